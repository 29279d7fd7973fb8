//! The body of child worker processes. Does nothing unless started by
//! [`super::helpers::ChildWorker`] (the environment variable tells).

use std::time::Duration;

use antidote_scheduler::queue::{JobContext, JobError, Registry, ResultExt, Worker};

/// Side effects recorded by the test handlers, one row per execution.
pub const EFFECTS_TABLE: &str = "create table if not exists test_effects (job_id bigint not null, what text not null, pid int not null, at timestamptz not null default clock_timestamp())";

/// Records one execution of `what` for the job.
pub async fn effect(ctx: &JobContext, what: &str) -> Result<(), JobError> {
    sqlx::query("insert into test_effects (job_id, what, pid) values ($1, $2, $3)")
        .bind(ctx.id().0)
        .bind(what)
        .bind(std::process::id() as i32)
        .execute(ctx.pool())
        .await
        .transient()?;
    Ok(())
}

/// The handlers every test worker (child or in-process) knows.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("test.effect", |ctx: JobContext| async move {
        effect(&ctx, "run").await
    });
    registry.register("test.steps", |ctx: JobContext| async move {
        ctx.step("one", || async { effect(&ctx, "one").await.map(|()| 1) })
            .await?;
        ctx.step("two", || async {
            effect(&ctx, "two").await?;
            if std::env::var("CHILD_HANG_IN_TWO").is_ok() {
                sqlx::query("select pg_notify('test_signal', 'in-two')")
                    .execute(ctx.pool())
                    .await
                    .transient()?;
                futures::future::pending::<()>().await;
            }
            Ok(2)
        })
        .await?;
        ctx.step("three", || async {
            effect(&ctx, "three").await.map(|()| 3)
        })
        .await?;
        Ok(())
    });
    registry
}

#[path = "../support/child.rs"]
mod support;

#[test]
fn worker_process() {
    support::run_child(|pool| async move {
        let mut config = super::helpers::fast_config();
        config.concurrency = support::env("CHILD_CONCURRENCY")
            .parse()
            .expect("concurrency");
        config.lease =
            Duration::from_millis(support::env("CHILD_LEASE_MS").parse().expect("lease"));
        config.heartbeat = config.lease / 3;
        let worker = Worker::new(pool, registry(), config);
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            term.recv().await;
        };
        worker.run(shutdown).await.expect("worker runs");
    });
}
