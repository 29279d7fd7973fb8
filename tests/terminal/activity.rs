//! Typing in a terminal is the learner's activity (issue 32): it keeps a lab alive past
//! the inactivity deadline that ends an untouched one.

use std::time::Duration;

use antidote_scheduler::gateway::GatewaySettings;
use antidote_scheduler::gc::{self, expiry};
use sqlx::PgPool;

use crate::driver::Driver;
use crate::lab::Terminals;
use crate::login;

#[sqlx::test]
async fn typing_keeps_a_lab_alive_past_its_inactivity_deadline(pool: PgPool) {
    let mut terminals = Terminals::start(pool, GatewaySettings::default()).await;
    let typed = terminals.ready("linux-first-steps").await;
    let untouched = terminals.ready("router-configuration").await;
    // Both last active 29 minutes ago: a minute before the 30-minute deadline.
    terminals.lab.age_activity(&typed.id, 29).await;
    terminals.lab.age_activity(&untouched.id, 29).await;

    let (host, port) = typed.ssh[0].clone();
    let mut browser = Driver::start();
    browser
        .open(
            "t1",
            &terminals.origin,
            login(&host, port, "antidotepassword"),
            80,
            24,
        )
        .await;
    browser.until_output("t1", "$ ").await;
    browser.type_in("t1", "echo typed-$((1+1))\r").await;
    browser.until_output("t1", "typed-2").await;
    // The write is off the keystroke's path: wait for it to land (bounded).
    let mut recorded = false;
    for _ in 0..200 {
        recorded = sqlx::query_scalar::<_, bool>(
            "select last_active_at > now() - interval '1 minute' from livelessons where id = $1",
        )
        .bind(typed.id.as_str())
        .fetch_one(&terminals.lab.pool)
        .await
        .expect("read");
        if recorded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recorded, "typing was recorded as activity");

    // Two minutes on: past the untouched lab's deadline, well within the typed one's.
    let later = terminals.lab.later(Duration::from_secs(120)).await;
    let counts = expiry::run_once(&later, &gc::Config::default())
        .await
        .expect("expiry");
    assert_eq!(counts.inactive, 1, "{counts:?}");
    assert!(
        terminals
            .lab
            .livelesson(&untouched.id)
            .await
            .expect("row")
            .deleting
    );
    assert!(
        !terminals
            .lab
            .livelesson(&typed.id)
            .await
            .expect("row")
            .deleting
    );
    terminals.stop().await;
}
