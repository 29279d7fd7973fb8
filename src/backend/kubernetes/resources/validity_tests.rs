//! Every object built for every example lesson is accepted by kubesim's validation, for
//! instance ids up to the longest the curriculum validation accepts: whatever the
//! curriculum validation lets through, the builders can provision. The property tests in
//! `proptest.rs` do the same for generated lessons.

use super::check;
use super::fixture::Fixture;
use crate::curriculum::names::MAX_INSTANCE_ID_LEN;

fn instance_ids() -> Vec<String> {
    let long = |len: usize| {
        let mut id: String = "staging-".repeat(10).chars().take(len - 1).collect();
        id.push('x');
        id
    };
    vec![
        "antidote".to_owned(),
        long(20),
        long(32),
        long(42),
        long(MAX_INSTANCE_ID_LEN),
    ]
}

#[test]
fn every_object_of_every_loadable_lesson_is_accepted_by_kubesim() {
    for instance_id in instance_ids() {
        let fx = Fixture::for_instance(&instance_id);
        if instance_id.len() <= 32 {
            assert_eq!(
                fx.curriculum.lessons.len(),
                4,
                "{instance_id}: every lesson fits"
            );
        }
        for lesson in &fx.curriculum.lessons {
            let ll = fx.livelesson(&lesson.slug);
            let problems = check::problems(&fx.settings, &ll);
            assert!(
                problems.is_empty(),
                "{instance_id} {}: {problems:#?}",
                lesson.slug
            );
        }
    }
}
