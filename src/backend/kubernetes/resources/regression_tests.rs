//! Plain regression tests for the lessons the property tests (`prop_tests.rs`) found: each
//! either is now refused by the curriculum validation, or builds objects kubesim accepts.

use std::collections::BTreeMap;

use super::check;
use super::fixture::images_of;
use crate::backend::{Livelesson, Settings};
use crate::curriculum::{Files, Loaded, Options, load_from};
use crate::ids::{LivelessonId, SessionId};

const META: &str = "name: c\ndescription: d\nwebsite: https://example.com\naVer: 1\ngitRoot: g\n";

fn image(slug: &str) -> String {
    format!(
        "slug: {slug}\nflavor: trusted\nsshUser: u\nsshPassword: p\nconfigUser: u\nconfigPassword: p\n"
    )
}

/// A curriculum with the images `images`, one lesson `lesson` (YAML) of one markdown stage,
/// and `extra` files in the lesson's directory.
fn load(images: &[&str], lesson: &str, extra: &[(&str, &str)]) -> Loaded {
    let mut files = Files::new();
    files.insert("curriculum.meta.yaml", META);
    for slug in images {
        files.insert(format!("images/{slug}/image.meta.yaml"), image(slug));
    }
    files.insert(
        "lessons/l/lesson.meta.yaml",
        format!(
            "name: L\nslug: l\ncategory: tools\ntier: prod\ndescription: d\nshortDescription: s\n\
             stages: [{{guideType: markdown}}]\n{lesson}"
        ),
    );
    files.insert("lessons/l/stage0/guide.md", "# Guide");
    for (path, text) in extra {
        files.insert(format!("lessons/l/{path}"), *text);
    }
    load_from(&files, &Options::default())
}

fn errors(loaded: &Loaded) -> Vec<(String, String)> {
    loaded
        .report
        .problems
        .iter()
        .filter(|p| p.severity == crate::curriculum::Severity::Error)
        .map(|p| (p.field.clone(), p.reason.clone()))
        .collect()
}

/// The problems of the livelesson's objects, for a curriculum that must load.
fn object_problems(loaded: &Loaded) -> Vec<String> {
    let curriculum = loaded
        .valid()
        .unwrap_or_else(|| panic!("loads: {:?}", errors(loaded)));
    let lesson = &curriculum.lessons[0];
    let images: BTreeMap<_, _> = images_of(curriculum, lesson);
    let (id, session_id) = (
        LivelessonId::from("abcde12345"),
        SessionId::from("sess000001"),
    );
    let ll = Livelesson {
        id: &id,
        session_id: &session_id,
        lesson,
        images: &images,
    };
    check::problems(&Settings::default(), &ll)
}

#[test]
fn an_image_slug_too_long_for_the_credentials_secret_key_is_refused() {
    let endpoint = |slug: &str| {
        format!(
            "endpoints: [{{name: r1, image: {slug}, configurationType: python, additionalPorts: [22]}}]\n"
        )
    };
    let config = [("stage0/configs/r1.py", "print()")];
    let longest = "a".repeat(244);
    let loaded = load(&[&longest], &endpoint(&longest), &config);
    assert_eq!(object_problems(&loaded), Vec::<String>::new());

    let too_long = "a".repeat(245);
    let loaded = load(&[&too_long], &endpoint(&too_long), &config);
    let errors = errors(&loaded);
    assert!(
        errors.iter().any(|(field, reason)| field == "slug"
            && reason.contains("at most 244 fit in the Secret key")),
        "{errors:?}"
    );
}

#[test]
fn connections_whose_networks_would_share_a_name_are_refused() {
    let loaded = load(
        &["utility"],
        "endpoints:\n\
         - {name: a, image: utility, additionalPorts: [22]}\n\
         - {name: a-b, image: utility, additionalPorts: [22]}\n\
         - {name: b-a, image: utility, additionalPorts: [22]}\n\
         connections: [{a: a-b, b: a}, {a: a, b: b-a}]\n",
        &[],
    );
    assert_eq!(
        errors(&loaded),
        [(
            "connections[1]".to_owned(),
            "its network would be named `a-b-a-net` like that of connections[0]; rename an endpoint"
                .to_owned()
        )]
    );
}

#[test]
fn http_presentations_whose_ingresses_would_share_a_name_are_refused() {
    let loaded = load(
        &["utility"],
        "endpoints:\n\
         - {name: a-b, image: utility, presentations: [{name: c, port: 80, type: http}]}\n\
         - {name: a, image: utility, presentations: [{name: b-c, port: 80, type: http}]}\n",
        &[],
    );
    assert_eq!(
        errors(&loaded),
        [(
            "endpoints[1].presentations[0].name".to_owned(),
            "its ingress and host would be named `a-b-c` like those of endpoints[0].presentations[0]; rename the endpoint or the presentation"
                .to_owned()
        )]
    );
}

#[test]
fn lesson_files_whose_keys_meet_after_escaping_all_reach_the_pods() {
    let loaded = load(
        &["utility"],
        "endpoints: [{name: a, image: utility, additionalPorts: [22]}]\n",
        &[
            ("stage0/configs/a b", "1"),
            ("stage0/configs/a b-2", "2"),
            ("stage0/configs/a_b", "3"),
        ],
    );
    assert_eq!(object_problems(&loaded), Vec::<String>::new());
}
