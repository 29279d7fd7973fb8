//! Garbage collection tests: each rule's `run_once` against a real PostgreSQL, kubesim
//! through the production kube-rs client, and workers running the real workflows. Time
//! passes with the engine's clock (`Lab::later`: a client whose test clock stands ahead of
//! the database), never by sleeping; timestamps are rewritten only where rows need pasts
//! of their own (one idle, another not).

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;
mod lifetime;

use std::sync::Arc;
use std::time::Duration;

use antidote_scheduler::backend::Backend;
use antidote_scheduler::gc::{self, expiry, orphans, reconcile, retention, sessions};
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::queue::{JobId, StepHook, WorkerConfig, WorkerEvent};
use antidote_scheduler::store::livelesson::{self, Status};
use antidote_scheduler::store::livesession;
use antidote_scheduler::workflow::{CREATE, DELETE, request};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;
use sqlx::PgPool;
use tokio::sync::{Notify, mpsc};

use helpers::{Lab, finished, gc_config, make_namespace, namespace_alive, start, worker_config};

const LESSON: &str = "linux-first-steps";
const OTHER_LESSON: &str = "router-configuration";

/// A DELETE job as the queue holds it.
async fn delete_job_keys(
    pool: &PgPool,
    id: &str,
) -> Option<(String, String, i32, serde_json::Value)> {
    sqlx::query_as(
        "select serial_key, unique_key, max_attempts, args from jobs where kind = $1 and args->>'livelesson' = $2",
    )
    .bind(DELETE)
    .bind(id)
    .fetch_optional(pool)
    .await
    .expect("job lookup")
}

#[sqlx::test]
async fn inactive_livelesson_is_marked_deleting_with_a_serialised_delete_job(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let stale = lab.request(&session, LESSON, 0).await;
    let fresh = lab.request(&session, OTHER_LESSON, 0).await;
    lab.age_activity(&stale.id, 31).await;
    lab.age_activity(&fresh.id, 29).await;

    let counts = expiry::run_once(&lab.queue, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.inactive, 1);
    assert_eq!(counts.enqueued, 1);
    assert_eq!(counts.expired(), 1);
    assert!(
        lab.livelesson(&stale.id)
            .await
            .expect("row stays until DELETE")
            .deleting
    );
    assert!(!lab.livelesson(&fresh.id).await.expect("row").deleting);

    let (serial, unique, attempts, args) = delete_job_keys(&lab.pool, stale.id.as_str())
        .await
        .expect("DELETE enqueued");
    assert_eq!(serial, format!("livelesson:{}", stale.id));
    assert_eq!(unique, format!("{DELETE}:{}", stale.id));
    assert_eq!(attempts, 8);
    assert_eq!(
        args,
        serde_json::json!({"livelesson": stale.id, "stage": 0})
    );
    assert!(
        delete_job_keys(&lab.pool, fresh.id.as_str())
            .await
            .is_none()
    );

    // A second pass finds nothing new; a kill afterwards reuses the queued job.
    let again = expiry::run_once(&lab.queue, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(again.expired(), 0);
    request::kill(&lab.pool, &lab.queue, &stale.id)
        .await
        .expect("kill");
    let count: i64 = sqlx::query_scalar("select count(*) from jobs where kind = $1")
        .bind(DELETE)
        .fetch_one(&lab.pool)
        .await
        .expect("count");
    assert_eq!(count, 1);

    // The learner can request the lesson again at once: the deleting row no longer counts.
    let again = lab.request(&session, LESSON, 0).await;
    assert_ne!(again.id, stale.id);
}

#[sqlx::test]
async fn a_heartbeat_prevents_expiry(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, LESSON, 0).await;
    lab.age_activity(&ll.id, 120).await;
    assert!(
        request::heartbeat(&lab.pool, &ll.id)
            .await
            .expect("heartbeat")
    );

    let counts = expiry::run_once(&lab.queue, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.expired(), 0);
    assert!(!lab.livelesson(&ll.id).await.expect("row").deleting);
}

#[sqlx::test]
async fn persistent_sessions_are_exempt_from_the_ttl_until_the_maximum_age(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    assert!(
        livesession::set_persistent(&lab.pool, &session, true)
            .await
            .expect("persist")
    );
    let ll = lab.request(&session, LESSON, 0).await;

    let six_days = lab.later(Duration::from_secs(6 * 24 * 3600)).await;
    let counts = expiry::run_once(&six_days, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(
        counts.expired(),
        0,
        "inactive but persistent and younger than the cap"
    );

    let past_the_cap = lab.later(Duration::from_secs(7 * 24 * 3600 + 60)).await;
    let counts = expiry::run_once(&past_the_cap, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.persistent_max_age, 1);
    assert_eq!(counts.enqueued, 1);
    assert!(lab.livelesson(&ll.id).await.expect("row").deleting);
}

#[sqlx::test]
async fn an_errored_livelesson_is_released_after_the_error_ttl(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, LESSON, 0).await;
    livelesson::set_error(&lab.pool, &ll.id, "pods-ready", "image pull failed", None)
        .await
        .expect("error");
    let errored_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select errored_at from livelessons where id = $1")
            .bind(&ll.id)
            .fetch_one(&lab.pool)
            .await
            .expect("errored_at");
    assert!(errored_at.is_some(), "the trigger stamps errored_at");

    // While the error is fresh, the learner sees it and cannot request the lesson again.
    let counts = expiry::run_once(&lab.queue, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.expired(), 0);
    let refused = request::request_livelesson(
        &lab.pool,
        &lab.queue,
        &lab.settings,
        request::Limits::default(),
        &session,
        LESSON,
        0,
    )
    .await;
    assert!(matches!(refused, Err(request::RequestError::Failed { .. })));

    let counts = expiry::run_once(&lab.later(Duration::from_secs(11 * 60)).await, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.errored, 1);
    assert_eq!(counts.enqueued, 1);
    let again = lab.request(&session, LESSON, 0).await;
    assert_ne!(again.id, ll.id);
    assert_eq!(again.status, Status::Initialized);
}

#[sqlx::test]
async fn an_inactive_empty_session_is_deleted_and_one_with_livelessons_is_kept(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let empty = lab.session().await;
    let busy = lab.session().await;
    let recent = lab.session().await;
    lab.request(&busy, LESSON, 0).await;
    sqlx::query(
        "update livesessions set last_active_at = now() - interval '25 hours' where id = any($1)",
    )
    .bind(vec![empty.clone(), busy.clone()])
    .execute(&lab.pool)
    .await
    .expect("age");

    let deleted = sessions::run_once(&lab.queue, &gc_config())
        .await
        .expect("sessions");
    assert_eq!(deleted, 1);
    assert!(
        livesession::get(&lab.pool, &empty)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        livesession::get(&lab.pool, &busy)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        livesession::get(&lab.pool, &recent)
            .await
            .expect("get")
            .is_some()
    );
}

#[sqlx::test]
async fn session_expiry_never_races_a_livelesson_request(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    // A day and an hour later, by the engine's clock: the session is idle past its TTL.
    let later = lab.later(Duration::from_secs(25 * 3600)).await;

    // A request holds the session lock (as request_livelesson does first): expiry skips
    // the session instead of deleting it under the request or waiting for it.
    let mut request_tx = lab.pool.begin().await.expect("begin");
    livesession::lock(&mut *request_tx, &session)
        .await
        .expect("lock")
        .expect("session exists");
    let deleted = tokio::time::timeout(
        Duration::from_secs(5),
        sessions::run_once(&later, &gc_config()),
    )
    .await
    .expect("expiry does not block on the request's lock")
    .expect("sessions");
    assert_eq!(deleted, 0);
    request_tx.rollback().await.expect("rollback");

    // The request then creates its livelesson: the session is no longer empty nor idle.
    lab.request(&session, LESSON, 0).await;
    assert_eq!(
        sessions::run_once(&later, &gc_config())
            .await
            .expect("sessions"),
        0
    );
    assert!(
        livesession::get(&lab.pool, &session)
            .await
            .expect("get")
            .is_some()
    );

    // The other order: expiry deletes first, and the request finds no session.
    let gone = lab.session().await;
    let later = lab.later(Duration::from_secs(25 * 3600)).await;
    assert_eq!(
        sessions::run_once(&later, &gc_config())
            .await
            .expect("sessions"),
        1
    );
    let refused = request::request_livelesson(
        &lab.pool,
        &lab.queue,
        &lab.settings,
        request::Limits::default(),
        &gone,
        LESSON,
        0,
    )
    .await;
    assert!(matches!(
        refused,
        Err(request::RequestError::UnknownSession(_))
    ));
}

#[sqlx::test]
async fn an_orphan_namespace_is_swept_and_others_survive(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let live = lab.request(&session, LESSON, 0).await;
    let dying = lab.request(&session, OTHER_LESSON, 0).await;
    livelesson::mark_deleting(&lab.pool, &dying.id)
        .await
        .expect("deleting");
    let orphan = make_namespace(&lab.kube, "test", "orphan0001").await;
    let foreign = make_namespace(&lab.kube, "other", "foreign001").await;
    let with_state = make_namespace(&lab.kube, "test", live.id.as_str()).await;
    let with_deleting_state = make_namespace(&lab.kube, "test", dying.id.as_str()).await;

    // Within the grace period nothing is touched.
    let young = orphans::run_once(&lab.pool, &*lab.backend, &gc_config())
        .await
        .expect("sweep");
    assert_eq!(young.deleted, 0);
    assert_eq!(young.too_young, 1);
    assert!(namespace_alive(&lab.kube, &orphan).await);

    let config = gc::Config {
        orphan_grace: Duration::ZERO,
        ..gc_config()
    };
    let counts = orphans::run_once(&lab.pool, &*lab.backend, &config)
        .await
        .expect("sweep");
    assert_eq!(
        counts.namespaces, 3,
        "only this instance's namespaces are listed"
    );
    assert_eq!(counts.deleted, 1);
    assert_eq!(counts.failed, 0);
    assert!(!namespace_alive(&lab.kube, &orphan).await);
    assert!(namespace_alive(&lab.kube, &foreign).await);
    assert!(namespace_alive(&lab.kube, &with_state).await);
    assert!(namespace_alive(&lab.kube, &with_deleting_state).await);
    lab.backend
        .wait_namespace_gone(&LivelessonId::from("orphan0001"))
        .await
        .expect("orphan namespace gone");

    // A restart is just another pass: still nothing with state is deleted.
    let again = orphans::run_once(&lab.pool, &*lab.backend, &config)
        .await
        .expect("sweep");
    assert_eq!(again.deleted, 0);
    assert!(namespace_alive(&lab.kube, &with_state).await);
}

#[sqlx::test]
async fn a_livelesson_expiring_during_its_create_is_deleted_after_the_create(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, LESSON, 0).await;
    let create = lab.job(CREATE, &ll.id).await;

    // Hold the CREATE right after its namespace step until expiry has run.
    let (reached_tx, mut reached) = mpsc::unbounded_channel::<()>();
    let release = Arc::new(Notify::new());
    let hook = {
        let release = release.clone();
        StepHook(Arc::new(move |job: JobId, step: String| {
            let release = release.clone();
            let reached_tx = reached_tx.clone();
            Box::pin(async move {
                if job == create && step == "namespace" {
                    let _ = reached_tx.send(());
                    release.notified().await;
                }
            })
        }))
    };
    let worker = lab.worker(WorkerConfig {
        step_hook: Some(hook),
        ..worker_config()
    });
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    tokio::time::timeout(Duration::from_secs(20), reached.recv())
        .await
        .expect("CREATE reaches its namespace step")
        .expect("hook");

    lab.age_activity(&ll.id, 45).await;
    let counts = expiry::run_once(&lab.queue, &gc_config())
        .await
        .expect("expiry");
    assert_eq!(counts.enqueued, 1);
    let delete = lab.job(DELETE, &ll.id).await;
    release.notify_one();

    assert_eq!(
        finished(&mut events, create, Duration::from_secs(60)).await,
        WorkerEvent::Completed(create)
    );
    assert_eq!(
        finished(&mut events, delete, Duration::from_secs(60)).await,
        WorkerEvent::Completed(delete)
    );
    let _ = stop.send(());
    handle.await.expect("worker");

    // The DELETE was claimed only after the CREATE completed (event ids are global order).
    let create_done: i64 =
        sqlx::query_scalar("select id from job_events where job_id = $1 and kind = 'completed'")
            .bind(create.0)
            .fetch_one(&lab.pool)
            .await
            .expect("create completed");
    let delete_claimed: i64 =
        sqlx::query_scalar("select min(id) from job_events where job_id = $1 and kind = 'claimed'")
            .bind(delete.0)
            .fetch_one(&lab.pool)
            .await
            .expect("delete claimed");
    assert!(delete_claimed > create_done);
    assert!(lab.livelesson(&ll.id).await.is_none(), "state removed last");
    let namespaces: Api<Namespace> = Api::all(lab.kube.clone());
    let name = format!("test-{}", ll.id);
    assert!(
        namespaces.get_opt(&name).await.expect("get").is_none(),
        "no leaked namespace"
    );
    let listed = lab.backend.list_namespaces().await.expect("list");
    assert!(listed.iter().all(|ns| ns.livelesson_id != ll.id));
}

#[sqlx::test]
async fn reconciliation_marks_a_livelesson_whose_namespace_was_deleted_behind_our_back(
    pool: PgPool,
) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, LESSON, 0).await;
    let create = lab.job(CREATE, &ll.id).await;
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    assert_eq!(
        finished(&mut events, create, Duration::from_secs(60)).await,
        WorkerEvent::Completed(create)
    );
    let _ = stop.send(());
    handle.await.expect("worker");
    assert_eq!(
        lab.livelesson(&ll.id).await.expect("row").status,
        Status::Ready
    );

    let healthy = reconcile::run_once(&lab.pool, &*lab.backend, &gc_config())
        .await
        .expect("reconcile");
    assert_eq!(healthy.checked, 1);
    assert_eq!(healthy.marked(), 0);

    let namespaces: Api<Namespace> = Api::all(lab.kube.clone());
    namespaces
        .delete(&format!("test-{}", ll.id), &DeleteParams::default())
        .await
        .expect("delete behind our back");
    lab.backend
        .wait_namespace_gone(&ll.id)
        .await
        .expect("namespace gone");

    let counts = reconcile::run_once(&lab.pool, &*lab.backend, &gc_config())
        .await
        .expect("reconcile");
    assert_eq!(counts.namespace_missing, 1);
    assert_eq!(counts.marked(), 1);
    let row = lab.livelesson(&ll.id).await.expect("row");
    assert_eq!(row.status, Status::Error);
    let error = row.error.expect("error recorded");
    assert_eq!(error.step.as_deref(), Some("reconcile"));
    assert!(error.reason.contains("namespace gone"), "{}", error.reason);

    // ERROR is not READY: the next pass leaves it to the error TTL.
    let again = reconcile::run_once(&lab.pool, &*lab.backend, &gc_config())
        .await
        .expect("reconcile");
    assert_eq!(again.checked, 0);
}

#[sqlx::test]
async fn finished_jobs_past_retention_are_pruned_with_their_history(pool: PgPool) {
    sqlx::query(
        "insert into finished_jobs (id, kind, args, queue, priority, state, attempt, max_attempts,
                                    run_at, created_at, finished_at)
         select id, 'noop', '{}', 'default', 1, 'completed', 1, 1, now(), now(), now() - age
         from (values (1000001::bigint, interval '8 days'), (1000002, interval '8 days'),
                      (1000003, interval '1 day')) as t(id, age)",
    )
    .execute(&pool)
    .await
    .expect("finished jobs");
    for job in [1_000_001i64, 1_000_002, 1_000_003, 1_000_004] {
        sqlx::query("insert into job_events (job_id, kind, at) values ($1, 'claimed', now() - interval '9 days'), ($1, 'completed', now() - interval '8 days')")
            .bind(job)
            .execute(&pool)
            .await
            .expect("events");
        sqlx::query("insert into job_steps (job_id, name, output, attempt, worker) values ($1, 'a', 'null', 1, 'w')")
            .bind(job)
            .execute(&pool)
            .await
            .expect("steps");
    }

    let config = gc::Config {
        batch_size: 1,
        ..gc_config()
    };
    let pruned = retention::run_once(&pool, &config)
        .await
        .expect("retention");
    assert_eq!(pruned.jobs, 2);
    assert_eq!(pruned.events, 4);
    assert_eq!(pruned.steps, 2);
    let left: Vec<i64> = sqlx::query_scalar("select distinct job_id from job_events order by 1")
        .fetch_all(&pool)
        .await
        .expect("left");
    // The recent job keeps its history, and so does a job not (yet) in finished_jobs.
    assert_eq!(left, vec![1_000_003, 1_000_004]);
    let steps: i64 = sqlx::query_scalar("select count(*) from job_steps")
        .fetch_one(&pool)
        .await
        .expect("steps");
    assert_eq!(steps, 2);
}

#[sqlx::test]
async fn three_workers_run_each_gc_slot_once(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let interval = Duration::from_millis(250);
    let config = gc::Config {
        expiry_interval: interval,
        orphan_interval: interval,
        reconcile_interval: interval,
        retention_interval: interval,
        ..gc_config()
    };
    let (done_tx, mut done) = mpsc::unbounded_channel::<JobId>();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let worker = antidote_scheduler::queue::Worker::with_notifier(
            lab.pool.clone(),
            lab.registry(config.clone()),
            WorkerConfig {
                schedules: gc::schedules(&config),
                ..worker_config()
            },
            lab.queue.notifier().clone(),
        );
        let mut events = worker.subscribe();
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let WorkerEvent::Completed(job) = event {
                    let _ = done_tx.send(job);
                }
            }
        });
        workers.push(start(worker));
    }

    // Wait for several slots of every GC job.
    let kinds = [
        gc::EXPIRE,
        gc::SESSIONS,
        gc::ORPHANS,
        gc::RECONCILE,
        gc::RETENTION,
    ];
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut completed = Vec::new();
        loop {
            let job = done.recv().await.expect("events");
            completed.push(job.0);
            let per_kind: Vec<i64> = sqlx::query_scalar(
                "select count(*) from finished_jobs where id = any($1) and kind = any($2) group by kind",
            )
            .bind(&completed)
            .bind(kinds.to_vec())
            .fetch_all(&lab.pool)
            .await
            .expect("count");
            if per_kind.len() == kinds.len() && per_kind.iter().all(|n| *n >= 4) {
                return;
            }
        }
    })
    .await
    .expect("every GC job ran several slots");
    for (stop, handle) in workers {
        let _ = stop.send(());
        handle.await.expect("worker");
    }

    let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
        "select kind, count(*), count(distinct unique_key), string_agg(distinct state::text, ',')
         from jobs_all where kind like 'gc.%' group by kind order by kind",
    )
    .fetch_all(&lab.pool)
    .await
    .expect("jobs");
    assert_eq!(rows.len(), kinds.len());
    for (kind, runs, slots, states) in rows {
        assert_eq!(runs, slots, "{kind}: one job per slot");
        assert!(runs >= 4, "{kind}");
        assert!(!states.unwrap_or_default().contains("failed"), "{kind}");
    }
}

#[sqlx::test]
async fn reconciliation_marks_a_livelesson_whose_pod_stopped(pool: PgPool) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::ListParams;

    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, LESSON, 0).await;
    let create = lab.job(CREATE, &ll.id).await;
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    assert_eq!(
        finished(&mut events, create, Duration::from_secs(60)).await,
        WorkerEvent::Completed(create)
    );
    let _ = stop.send(());
    handle.await.expect("worker");

    let pods: Api<Pod> = Api::namespaced(lab.kube.clone(), &format!("test-{}", ll.id));
    let victim = pods
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .into_iter()
        .find_map(|p| p.metadata.name)
        .expect("an endpoint pod");
    pods.delete(&victim, &DeleteParams::default())
        .await
        .expect("delete pod");

    // The backend sees the cluster through a watch cache, so the deletion reaches it
    // shortly after the API call returns: pass again until it does (each pass is real
    // work, not a sleep), within a deadline.
    let counts = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let counts = reconcile::run_once(&lab.pool, &*lab.backend, &gc_config())
                .await
                .expect("reconcile");
            if counts.marked() > 0 {
                return counts;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the stopped pod is noticed");
    assert_eq!(counts.pods_down, 1);
    let row = lab.livelesson(&ll.id).await.expect("row");
    assert_eq!(row.status, Status::Error);
    let error = row.error.expect("error");
    assert_eq!(error.step.as_deref(), Some("reconcile"));
    assert!(
        error.reason.contains("pods not running"),
        "{}",
        error.reason
    );
}
