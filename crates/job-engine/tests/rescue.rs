//! The bounded rescuer against a real PostgreSQL: a pass takes lost jobs in batches of a
//! set size until none is left; an end hook that fails rolls back its own job alone (a
//! savepoint), which is recorded in the audit trail, reported to the observer and tried
//! again after a backoff, while every other job is rescued. Time is the test clock's: the
//! leases expire and the backoff passes without waiting.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use job_engine::testing::TestRunner;
use job_engine::{
    Client, Clock, EndHook, Ended, HookError, JobContext, JobId, JobObserver, JobState, NewJob,
    Observer, Registry, RetryPolicy, WorkerConfig, store,
};
use sqlx::{PgConnection, PgPool};

const QUEUE: &str = "rescue";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2031-03-14T09:26:53.589793Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

/// Records each end it is told of in `hook_calls`, or fails while `broken` says so.
struct Hook {
    broken: Arc<AtomicBool>,
}

impl EndHook for Hook {
    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ended: &'a Ended,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            // Written first, so that a failure after it shows the savepoint undoing it.
            sqlx::query("insert into hook_calls (job_id, reason) values ($1, $2)")
                .bind(ended.id.0)
                .bind(&ended.reason)
                .execute(&mut *conn)
                .await?;
            if self.broken.load(Ordering::SeqCst) {
                return Err("the application's table is locked by a migration".into());
            }
            Ok(())
        })
    }
}

/// Counts the end hooks that failed and the jobs rescued.
#[derive(Default)]
struct Counted {
    hook_failures: AtomicUsize,
    rescued: AtomicUsize,
}

struct Counting(Arc<Counted>);

impl JobObserver for Counting {
    fn leases_rescued(&self, count: usize) {
        self.0.rescued.fetch_add(count, Ordering::SeqCst);
    }

    fn end_hook_failed(&self, kind: &str) {
        assert_eq!(kind, "rescue.broken");
        self.0.hook_failures.fetch_add(1, Ordering::SeqCst);
    }
}

async fn enqueue(client: &Client, kind: &str, max_attempts: i32, count: usize) -> Vec<JobId> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let job = NewJob::new(kind, serde_json::json!({}))
            .with_queue(QUEUE)
            .with_max_attempts(max_attempts);
        ids.push(client.enqueue(&job).await.expect("enqueue").id);
    }
    ids
}

async fn state_of(pool: &PgPool, job: JobId) -> JobState {
    store::job(pool, job)
        .await
        .expect("read")
        .expect("the job exists")
        .state
}

async fn hook_failures_recorded(pool: &PgPool, job: JobId) -> Vec<String> {
    store::events(pool, job)
        .await
        .expect("events")
        .into_iter()
        .filter(|event| event.kind == "end_hook_failed")
        .map(|event| event.detail.unwrap_or_default())
        .collect()
}

#[sqlx::test(migrations = false)]
async fn a_failing_end_hook_holds_back_its_own_job_alone_and_the_other_100_are_rescued(
    pool: PgPool,
) {
    job_engine::migrate(&pool).await.expect("migrate");
    sqlx::query("create table hook_calls (job_id bigint not null, reason text not null)")
        .execute(&pool)
        .await
        .expect("the application's table");
    let clock = Clock::fixed(start());
    let client = Client::new(pool.clone()).with_clock(clock.clone());
    let broken = Arc::new(AtomicBool::new(true));
    let mut registry = Registry::new();
    let no_op = |_ctx: JobContext| async { Ok(()) };
    registry.register("rescue.broken", no_op);
    registry.register("rescue.hooked", no_op);
    registry.register("rescue.plain", no_op);
    registry.on_end(
        "rescue.broken",
        Arc::new(Hook {
            broken: broken.clone(),
        }),
    );
    registry.on_end(
        "rescue.hooked",
        Arc::new(Hook {
            broken: Arc::new(AtomicBool::new(false)),
        }),
    );

    // One job whose end hook always fails, on its last attempt; 100 others: 30 with a
    // working hook and 40 without one on their last attempt, 30 with attempts left.
    let failing = enqueue(&client, "rescue.broken", 1, 1).await[0];
    let hooked = enqueue(&client, "rescue.hooked", 1, 30).await;
    let exhausted = enqueue(&client, "rescue.plain", 1, 40).await;
    let requeued = enqueue(&client, "rescue.plain", 5, 30).await;
    let claimed = store::claim(&pool, QUEUE, "vanished", 500, 30_000, None, &clock)
        .await
        .expect("a worker claims them all, then vanishes");
    assert_eq!(claimed.len(), 101);
    clock.advance(Duration::from_secs(31));

    let counted = Arc::new(Counted::default());
    let config = WorkerConfig {
        rescue_batch: 10,
        retry: RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.0,
        },
        observer: Observer::new(Counting(counted.clone())),
        clock: clock.clone(),
        ..WorkerConfig::default()
    };
    let runner = TestRunner::new(pool.clone(), registry, config);

    let pass = runner
        .rescue_once()
        .await
        .expect("no pass fails as a whole");
    println!(
        "one pass of batches of 10: {} batches, {} rescued ({} requeued, {} failed), {} end hook failed",
        pass.batches,
        pass.jobs.len(),
        pass.requeued(),
        pass.failed(),
        pass.hook_failures.len()
    );
    assert_eq!(pass.jobs.len(), 100, "every other job rescued in one pass");
    assert_eq!((pass.requeued(), pass.failed()), (30, 70));
    assert_eq!(
        pass.batches, 11,
        "101 jobs, 10 a batch: the 11th comes back short"
    );
    assert!(pass.jobs.iter().all(|job| job.id != failing));
    let [failure] = pass.hook_failures.as_slice() else {
        panic!("one end hook failed: {:?}", pass.hook_failures)
    };
    assert_eq!(
        (failure.id, failure.kind.as_str()),
        (failing, "rescue.broken")
    );
    assert!(
        failure.error.contains("locked by a migration"),
        "{failure:?}"
    );
    assert_eq!(
        failure.retry_at,
        clock.now() + chrono::Duration::seconds(1),
        "the first failure waits the policy's base"
    );
    assert_eq!(counted.hook_failures.load(Ordering::SeqCst), 1);
    assert_eq!(counted.rescued.load(Ordering::SeqCst), 100);

    for job in hooked.iter().chain(&exhausted) {
        assert_eq!(state_of(&pool, *job).await, JobState::Failed);
    }
    for job in &requeued {
        assert_eq!(state_of(&pool, *job).await, JobState::Available);
    }
    // The failing hook's write was undone with its job's failure; the others' stayed.
    let calls: Vec<(i64, String)> = sqlx::query_as("select job_id, reason from hook_calls")
        .fetch_all(&pool)
        .await
        .expect("hook calls");
    assert_eq!(calls.len(), 30, "one per job of the working hook");
    assert!(
        calls.iter().all(
            |(job, reason)| *job != failing.0 && reason == store::LEASE_EXPIRED_ON_LAST_ATTEMPT
        )
    );
    // The failing job waits, running and held by nobody, its failure in the audit trail.
    assert_eq!(state_of(&pool, failing).await, JobState::Running);
    let record = store::job(&pool, failing)
        .await
        .expect("read")
        .expect("job");
    assert_eq!(record.lease_owner, None);
    let recorded = hook_failures_recorded(&pool, failing).await;
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0].contains("locked by a migration"),
        "{recorded:?}"
    );

    // Before its backoff is over, the next pass leaves it alone.
    let pass = runner.rescue_once().await.expect("pass");
    assert!(
        pass.jobs.is_empty() && pass.hook_failures.is_empty(),
        "{pass:?}"
    );

    // After it, the hook is tried again and fails again: recorded, and the backoff doubles.
    clock.advance(Duration::from_millis(1001));
    let pass = runner.rescue_once().await.expect("pass");
    assert!(pass.jobs.is_empty(), "{pass:?}");
    assert_eq!(
        pass.hook_failures
            .iter()
            .map(|f| (f.id, f.retry_at))
            .collect::<Vec<_>>(),
        [(failing, clock.now() + chrono::Duration::seconds(2))]
    );
    assert_eq!(hook_failures_recorded(&pool, failing).await.len(), 2);

    // Once the hook works, the job ends with it.
    broken.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(2001));
    let pass = runner.rescue_once().await.expect("pass");
    assert_eq!(
        pass.jobs
            .iter()
            .map(|job| (job.id, job.failed))
            .collect::<Vec<_>>(),
        [(failing, true)]
    );
    assert!(pass.hook_failures.is_empty());
    assert_eq!(state_of(&pool, failing).await, JobState::Failed);
    let ended: i64 = sqlx::query_scalar("select count(*) from hook_calls where job_id = $1")
        .bind(failing.0)
        .fetch_one(&pool)
        .await
        .expect("hook calls");
    assert_eq!(ended, 1, "its hook's write committed once, with its end");
    assert_eq!(counted.hook_failures.load(Ordering::SeqCst), 2);
}
