//! Expiry by a lab's lifetime: its hard deadline ends it however active, and an extension
//! keeps it past its inactivity deadline until the overtime runs out.

use std::time::Duration;

use antidote_scheduler::gc::expiry;
use antidote_scheduler::workflow::lifetime;
use sqlx::PgPool;

use crate::helpers::{Lab, gc_config};

const LESSON: &str = "linux-first-steps";

#[sqlx::test]
async fn the_hard_deadline_ends_a_lab_however_active(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let first = lab.request(&session, LESSON, 0).await;

    // Seven hours on, before its deadline, inactivity is what ends it.
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let late = lab.later(hours(7)).await;
    let counts = expiry::run_once(&late, &gc_config()).await.expect("expiry");
    assert_eq!((counts.inactive, counts.max_age), (1, 0), "{counts:?}");
    assert!(lab.livelesson(&first.id).await.expect("row").deleting);

    // Another lab, past its deadline: the deadline is the cause, whatever its activity.
    let other = lab.session().await;
    let second = lab.request(&other, LESSON, 0).await;
    let past = lab.later(hours(8) + Duration::from_secs(60)).await;
    let counts = expiry::run_once(&past, &gc_config()).await.expect("expiry");
    assert_eq!((counts.max_age, counts.inactive), (1, 0), "{counts:?}");
    assert!(lab.livelesson(&second.id).await.expect("row").deleting);
}

#[sqlx::test]
async fn an_extension_keeps_a_lab_past_its_inactivity_deadline(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, LESSON, 0).await;
    // The defaults, as a process without configuration has them.
    let policy = antidote_scheduler::config::Config::default().lifetime_policy();
    let extended = lifetime::extend(&lab.pool, &policy, &ll.id)
        .await
        .expect("extendable");
    // 30 minutes of inactivity plus 15 of overtime.
    assert_eq!(extended.extensions_left, policy.max_extensions - 1);

    let minutes = |m: u64| Duration::from_secs(m * 60);
    let counts = expiry::run_once(&lab.later(minutes(31)).await, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.expired(), 0, "extended past 30 minutes: {counts:?}");
    assert!(!lab.livelesson(&ll.id).await.expect("row").deleting);
    let counts = expiry::run_once(&lab.later(minutes(46)).await, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.inactive, 1, "past its overtime: {counts:?}");
}
