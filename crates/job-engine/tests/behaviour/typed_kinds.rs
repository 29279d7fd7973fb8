//! Typed kinds: a handler registered for a `JobKind` gets its typed arguments, and a job
//! whose arguments do not fit fails at once, without a retry.

use std::sync::Arc;
use std::time::Duration;

use job_engine::testing::store;
use job_engine::{Client, JobContext, JobKind, NewJob, Registry, WorkerEvent};
use sqlx::PgPool;

use crate::helpers::wait_for;
use crate::start_worker;

/// A typed kind for the test below.
struct Tally;

#[derive(serde::Serialize, serde::Deserialize)]
struct TallyArgs {
    count: u32,
}

impl JobKind for Tally {
    const NAME: &'static str = "test.tally";
    type Args = TallyArgs;
}

#[sqlx::test(migrations = false)]
async fn a_typed_kind_gets_its_arguments_and_arguments_that_do_not_fit_fail_at_once(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut registry = Registry::new();
    let record = seen.clone();
    registry.register_kind::<Tally, _, _>(move |_ctx: JobContext, args: TallyArgs| {
        let record = record.clone();
        async move {
            record.lock().expect("lock").push(args.count);
            Ok(())
        }
    });
    let client = Client::new(pool.clone());
    let typed = client
        .enqueue(&NewJob::of::<Tally>(&TallyArgs { count: 3 }).expect("arguments"))
        .await
        .expect("enqueue")
        .id;
    // A job of the same kind enqueued untyped, with arguments of another shape.
    let malformed = client
        .enqueue(
            &NewJob::new(Tally::NAME, serde_json::json!({"count": "three"})).with_max_attempts(5),
        )
        .await
        .expect("enqueue")
        .id;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    // The two finish in either order.
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        outcomes.push(
            wait_for(&mut events, Duration::from_secs(20), |e| {
                matches!(e, WorkerEvent::Completed(_) | WorkerEvent::Failed(_))
            })
            .await,
        );
    }
    let _ = stop.send(());
    handle.await.expect("worker task");

    assert!(
        outcomes.contains(&WorkerEvent::Completed(typed)),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&WorkerEvent::Failed(malformed)),
        "{outcomes:?}"
    );
    assert_eq!(*seen.lock().expect("lock"), vec![3]);
    let failed = store::job(&pool, malformed)
        .await
        .expect("job")
        .expect("exists");
    assert_eq!(failed.attempt, 1, "no retry can fix the arguments");
    let error = failed.last_error.unwrap_or_default();
    assert!(error.contains("invalid job arguments"), "{error}");
}
