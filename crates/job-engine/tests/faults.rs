//! Database faults against a real PostgreSQL: the errors a statement timeout, a lock
//! timeout, a read-only transaction and a terminated connection really produce are told
//! apart by [`DbFault`], and the engine's own database work failing for the database's
//! absence is retried without counting the attempt, even on the last one.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use job_engine::testing::{End, TestRunner};
use job_engine::{
    Client, DbFault, JobContext, JobError, JobState, NewJob, QueueError, Registry, WorkerConfig,
    store,
};
use sqlx::PgPool;

/// The fault of the error `sql` meets on a connection of `pool` after `setup`.
async fn fault_of(pool: &PgPool, setup: &[&'static str], sql: &'static str) -> Option<DbFault> {
    // Detached: its settings go with it, not back to the pool.
    let mut conn = pool.acquire().await.expect("connect").detach();
    for statement in setup {
        sqlx::query(*statement)
            .execute(&mut conn)
            .await
            .expect("setup");
    }
    let err = sqlx::query(sql)
        .execute(&mut conn)
        .await
        .expect_err("the statement fails");
    println!("{sql}: {err}");
    DbFault::of(&err)
}

#[sqlx::test(migrations = false)]
async fn the_servers_own_errors_are_classified(pool: PgPool) {
    sqlx::query("create table t (id int primary key)")
        .execute(&pool)
        .await
        .expect("table");
    assert_eq!(
        fault_of(&pool, &["set statement_timeout = 50"], "select pg_sleep(5)").await,
        Some(DbFault::Timeout)
    );
    assert_eq!(
        fault_of(
            &pool,
            &["set default_transaction_read_only = on"],
            "insert into t values (1)"
        )
        .await,
        Some(DbFault::ReadOnly)
    );
    assert_eq!(
        fault_of(&pool, &[], "insert into t values (1), (1)").await,
        None,
        "a constraint is the statement's own"
    );

    // A lock held elsewhere, waited for past lock_timeout.
    let mut holder = pool.begin().await.expect("begin");
    sqlx::query("lock table t in access exclusive mode")
        .execute(&mut *holder)
        .await
        .expect("lock");
    assert_eq!(
        fault_of(&pool, &["set lock_timeout = 50"], "select * from t").await,
        Some(DbFault::Timeout)
    );
    holder.rollback().await.expect("rollback");

    // A connection the server terminated (a restart, a failover).
    let mut victim = pool.acquire().await.expect("connect").detach();
    let pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut victim)
        .await
        .expect("pid");
    let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&pool)
        .await
        .expect("terminate");
    assert!(terminated);
    let err = sqlx::query("select 1")
        .execute(&mut victim)
        .await
        .expect_err("the connection is gone");
    println!("on a terminated connection: {err}");
    assert_eq!(DbFault::of(&err), Some(DbFault::Unreachable));
}

#[sqlx::test(migrations = false)]
async fn the_engines_database_work_failing_on_the_last_attempt_is_retried_uncounted(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    let counted = runs.clone();
    registry.register("faults.once", move |_ctx: JobContext| {
        let run = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if run == 0 {
                // What a checkpoint write returns when the connection was cut.
                return Err(JobError::Queue(QueueError::Database {
                    operation: "checkpoint",
                    source: Arc::new(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "expected to read 5 bytes, got 0 bytes at EOF",
                    ))),
                }));
            }
            Ok(())
        }
    });
    let job = Client::new(pool.clone())
        .enqueue(
            &NewJob::new("faults.once", serde_json::json!({}))
                .with_queue("faults")
                .with_max_attempts(1),
        )
        .await
        .expect("enqueue")
        .id;
    let runner = TestRunner::new(pool.clone(), registry, WorkerConfig::default());

    assert_eq!(
        runner.run_to_end(job).await.expect("run"),
        End::RetryScheduled,
        "not failed on its only attempt"
    );
    let record = store::job(&pool, job).await.expect("read").expect("job");
    assert_eq!(record.state, JobState::Retryable);
    assert_eq!(record.attempt, 0, "the attempt was not counted");
    let last_error = record.last_error.unwrap_or_default();
    assert!(
        last_error.starts_with("database unreachable: ") && last_error.contains("EOF"),
        "the cause is named: {last_error}"
    );
    assert_eq!(runner.run_to_end(job).await.expect("run"), End::Completed);
}
