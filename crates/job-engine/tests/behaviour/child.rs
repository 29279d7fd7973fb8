//! The body of child worker processes. Does nothing unless started by
//! [`super::helpers::ChildWorker`] (the environment variable tells).

use std::time::Duration;

use std::sync::Arc;

use futures::future::BoxFuture;
use job_engine::{EndHook, Ended, HookError, JobContext, JobError, Registry, ResultExt, Worker};
use sqlx::PgConnection;

/// Side effects recorded by the test handlers, one row per execution.
pub const EFFECTS_TABLE: &str = "create table if not exists test_effects (job_id bigint not null, what text not null, pid bigint not null, at timestamptz not null default clock_timestamp())";

/// Records one execution of `what` for the job.
pub async fn effect(ctx: &JobContext, what: &str) -> Result<(), JobError> {
    sqlx::query("insert into test_effects (job_id, what, pid) values ($1, $2, $3)")
        .bind(ctx.id().0)
        .bind(what)
        .bind(i64::from(std::process::id()))
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
    // Runs a while (so that kills land mid-attempt), then ends as its `mode` says:
    // `ok`, `transient` (until its attempts run out) or `permanent`.
    registry.register(ENDING_KIND, |ctx: JobContext| async move {
        let mode: String = ctx.args::<serde_json::Value>()?["mode"]
            .as_str()
            .unwrap_or("ok")
            .to_owned();
        ctx.step("work", || async {
            effect(&ctx, "run").await?;
            tokio::time::sleep(Duration::from_millis(50 + ctx.id().0.unsigned_abs() % 150)).await;
            match mode.as_str() {
                "transient" => Err(JobError::Transient("fails every time".into())),
                "permanent" => Err(JobError::Permanent("cannot succeed".into())),
                _ => Ok(()),
            }
        })
        .await
    });
    registry.on_end(ENDING_KIND, Arc::new(RecordEnd));
    registry
}

/// A kind whose jobs end in every way, with an end hook that records each end.
pub const ENDING_KIND: &str = "test.ending";

/// Records `ended:<state>` for the job, in the transaction of its final write.
struct RecordEnd;

impl EndHook for RecordEnd {
    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ended: &'a Ended,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            sqlx::query("insert into test_effects (job_id, what, pid) values ($1, $2, $3)")
                .bind(ended.id.0)
                .bind(format!("ended:{}", ended.state.as_str()))
                .bind(i64::from(std::process::id()))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }
}

use job_engine::testing::child as support;

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
