//! Warm pools and capacity admission on the real workflows: spares provisioned by the
//! ordinary CREATE on kubesim, taken by concurrent requests, failing, ageing, and requests
//! waiting in line for capacity. Refill passes are run by the test (`refill::run_once`)
//! where their timing matters, and by the worker (the jobs takes and deletions enqueue)
//! where it does not.

use antidote_scheduler::backend::Backend as _;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::gc;
use antidote_scheduler::ids::{LivelessonId, SessionId};
use antidote_scheduler::pool::refill;
use antidote_scheduler::queue::{JobId, Worker, WorkerConfig, WorkerEvent};
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::store::pool::{self as pool_sql, GlobalSettings, LessonSettings};
use antidote_scheduler::workflow::request::{self, Requested};
use antidote_scheduler::workflow::{CREATE, DELETE, MODIFY};
use kubesim::Behaviour;
use sqlx::PgPool;

use super::helpers::{
    ApiServer, Lab, all_finished, finished, registry, start, trail, worker_config,
};

#[path = "../support/fs.rs"]
mod fs;
use fs::copy_dir;
use job_engine::testing::wait_until;

const LESSON: &str = "linux-first-steps";

/// Pool and capacity settings for a test.
pub(crate) struct Settings {
    pub(crate) lessons: Vec<(&'static str, i32)>,
    pub(crate) max_spares: i32,
    pub(crate) max_age_secs: f64,
    pub(crate) backoff_secs: f64,
    pub(crate) max_live: i32,
    pub(crate) lesson_max_live: Vec<(&'static str, i32)>,
}

impl Settings {
    /// `spares` spares of `lesson`, everything else by default.
    fn pool(lesson: &'static str, spares: i32) -> Self {
        Self {
            lessons: vec![(lesson, spares)],
            ..Self::default()
        }
    }
}

/// A lab with these pool and capacity settings applied.
async fn lab_with(pool: &PgPool, settings: &Settings) -> Lab {
    let lab = Lab::start(pool.clone()).await;
    apply(pool, settings).await;
    lab
}

/// The API on a loopback socket, over the lab's database and backend settings.
async fn api_server(lab: &Lab) -> ApiServer {
    let config = antidote_scheduler::config::Config {
        backend: lab.settings.clone(),
        ..antidote_scheduler::config::Config::default()
    };
    ApiServer::start(antidote_scheduler::api::AppState::new(
        lab.pool.clone(),
        lab.queue.clone(),
        &config,
    ))
    .await
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lessons: Vec::new(),
            max_spares: 100,
            max_age_secs: 3600.0,
            backoff_secs: 30.0,
            max_live: 0,
            lesson_max_live: Vec::new(),
        }
    }
}

pub(crate) async fn apply(pool: &PgPool, settings: &Settings) {
    let global = GlobalSettings {
        max_spares: settings.max_spares,
        max_age_secs: settings.max_age_secs,
        failure_backoff_secs: settings.backoff_secs,
        max_backoff_secs: 3600.0,
        max_live: settings.max_live,
    };
    let mut lessons: BTreeMap<&str, LessonSettings> = BTreeMap::new();
    for (slug, spares) in &settings.lessons {
        lessons.entry(slug).or_insert_with(|| empty(slug)).spares = *spares;
    }
    for (slug, max) in &settings.lesson_max_live {
        lessons.entry(slug).or_insert_with(|| empty(slug)).max_live = *max;
    }
    let lessons: Vec<LessonSettings> = lessons.into_values().collect();
    let mut tx = pool.begin().await.expect("begin");
    pool_sql::apply_settings(&mut tx, &global, &lessons)
        .await
        .expect("apply settings");
    tx.commit().await.expect("commit");
}

fn empty(slug: &str) -> LessonSettings {
    LessonSettings {
        lesson_slug: slug.to_owned(),
        spares: 0,
        max_live: 0,
    }
}

/// A worker running the production registry (the workflows and the refill pass).
fn pool_worker(lab: &Lab, config: WorkerConfig) -> Worker {
    let registry = registry(lab.kube.clone(), &lab.settings);
    Worker::with_notifier(
        lab.pool.clone(),
        registry,
        config,
        lab.queue.notifier().clone(),
    )
}

async fn request_outcome(lab: &Lab, session: &SessionId, lesson: &str, stage: i64) -> Requested {
    super::helpers::request_outcome(&lab.pool, &lab.queue, &lab.settings, session, lesson, stage)
        .await
}

async fn refill_now(lab: &Lab) -> refill::Counts {
    refill::run_once(&lab.queue, &lab.settings)
        .await
        .expect("refill pass")
}

/// Spares not being deleted, oldest first.
async fn spares(pool: &PgPool) -> Vec<LivelessonId> {
    sqlx::query_scalar(
        "select id from livelessons where spare and not deleting order by created_at, id",
    )
    .fetch_all(pool)
    .await
    .expect("spares")
}

async fn create_jobs(lab: &Lab, ids: &[LivelessonId]) -> Vec<JobId> {
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(lab.job(CREATE, id).await);
    }
    jobs
}

/// Runs a worker until every job of `jobs` has finished; asserts they completed.
async fn run_until_done(lab: &Lab, jobs: &[JobId]) {
    let worker = pool_worker(lab, worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let outcomes = all_finished(&mut events, jobs, Duration::from_secs(60)).await;
    for job in jobs {
        assert_eq!(
            outcomes.get(job),
            Some(&WorkerEvent::Completed(*job)),
            "{}",
            trail(&lab.pool, *job).await
        );
    }
    let _ = stop.send(());
    handle.await.expect("worker");
}

/// Fills the lesson's pool and runs the spares' CREATEs to READY; returns their ids.
pub(crate) async fn ready_spares(lab: &Lab) -> Vec<LivelessonId> {
    let counts = refill_now(lab).await;
    let ids = spares(&lab.pool).await;
    assert_eq!(usize::try_from(counts.created).expect("count"), ids.len());
    let jobs = create_jobs(lab, &ids).await;
    run_until_done(lab, &jobs).await;
    for id in &ids {
        let ll = lab.livelesson(id).await.expect("spare");
        assert_eq!(ll.status, Status::Ready, "spare {id}");
        assert!(ll.spare);
    }
    ids
}

#[sqlx::test]
async fn fifty_concurrent_requests_for_ten_spares_give_ten_learners_distinct_spares(pool: PgPool) {
    let lab = lab_with(&pool, &Settings::pool(LESSON, 10)).await;
    let spare_ids: BTreeSet<LivelessonId> = ready_spares(&lab).await.into_iter().collect();
    assert_eq!(spare_ids.len(), 10);

    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(lab.session().await);
    }
    // No worker runs now: the refills the takes enqueue wait, so no new spare can become
    // READY among the fifty requests.
    let requests = sessions.iter().map(|s| request_outcome(&lab, s, LESSON, 0));
    let outcomes = futures::future::join_all(requests).await;

    let mut taken = BTreeSet::new();
    let mut created = BTreeSet::new();
    for (session, outcome) in sessions.iter().zip(&outcomes) {
        let ll = outcome.livelesson();
        let stored = lab.livelesson(&ll.id).await.expect("stored");
        assert_eq!(&stored.session_id, session);
        assert!(!stored.spare);
        match outcome {
            Requested::FromPool(_) => {
                assert!(spare_ids.contains(&ll.id), "{} was a spare", ll.id);
                assert_eq!(stored.status, Status::Ready);
                assert!(stored.pool_hit);
                assert!(taken.insert(ll.id.clone()), "{} handed out twice", ll.id);
            }
            Requested::Created(_) => {
                assert_eq!(stored.status, Status::Initialized);
                lab.job(CREATE, &ll.id).await;
                assert!(created.insert(ll.id.clone()));
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    println!(
        "50 concurrent requests, 10 spares: {} taken, {} created",
        taken.len(),
        created.len()
    );
    assert_eq!(taken, spare_ids, "every spare went to exactly one learner");
    assert_eq!(created.len(), 40);
    assert!(spares(&pool).await.is_empty(), "the pool is empty");
    let refills: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'pool.refill'")
        .fetch_one(&pool)
        .await
        .expect("refills");
    assert_eq!(refills, 10, "one refill per take");
    // The refill replaces exactly the ten spares taken, however many passes run.
    assert_eq!(refill_now(&lab).await.created, 10);
    assert_eq!(refill_now(&lab).await.created, 0);
    assert_eq!(spares(&pool).await.len(), 10);
}

/// Imports a version of router-configuration with a third stage (a copy of its second),
/// as a curriculum update would: the example lessons have two stages at most.
async fn import_three_stage_router_configuration(pool: &PgPool) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum");
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&source, dir.path());
    let lesson = dir.path().join("lessons/router-configuration");
    copy_dir(&lesson.join("stage1"), &lesson.join("stage2"));
    let meta = lesson.join("lesson.meta.yaml");
    let mut text = std::fs::read_to_string(&meta).expect("meta");
    text.push_str("  - description: Routing again, from scratch\n    guideType: markdown\n");
    std::fs::write(&meta, text).expect("meta");
    let loaded = antidote_scheduler::curriculum::load(
        dir.path(),
        &antidote_scheduler::curriculum::Options::default(),
    );
    let curriculum = loaded.valid().expect("the three-stage variant is valid");
    antidote_scheduler::store::curriculum::import(pool, curriculum)
        .await
        .expect("import");
}

#[sqlx::test]
async fn a_spare_taken_at_stage_two_reaches_ready_at_stage_two(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    import_three_stage_router_configuration(&pool).await;
    let lesson = "router-configuration";
    apply(
        &pool,
        &Settings {
            lessons: vec![(lesson, 1)],
            ..Settings::default()
        },
    )
    .await;
    let spare = ready_spares(&lab).await.remove(0);
    let session = lab.session().await;
    let outcome = request_outcome(&lab, &session, lesson, 2).await;
    let Requested::FromPool(ll) = outcome else {
        panic!("a hit: {outcome:?}");
    };
    assert_eq!(ll.id, spare);
    assert_eq!(ll.current_stage, 2);
    assert_eq!(ll.status, Status::Configuration);
    let modify = lab.job(MODIFY, &spare).await;
    run_until_done(&lab, &[modify]).await;
    let ll = lab
        .livelesson(&LivelessonId::from(spare.as_str()))
        .await
        .expect("livelesson");
    assert_eq!(ll.status, Status::Ready);
    assert_eq!(ll.current_stage, 2);
    assert_eq!(ll.session_id, session);
    let learner_ready: bool =
        sqlx::query_scalar("select learner_ready_at is not null from livelessons where id = $1")
            .bind(&spare)
            .fetch_one(&pool)
            .await
            .expect("learner ready");
    assert!(learner_ready, "READY for its learner once MODIFY is done");
    // The stage-2 configuration ran on the spare's switches.
    let jobs: Vec<String> = sqlx::query_scalar(
        "select name from job_steps where job_id = $1 and name like 'config-%' order by name",
    )
    .bind(modify.0)
    .fetch_all(&pool)
    .await
    .expect("steps");
    assert!(jobs.iter().any(|s| s == "config-wait:2"), "{jobs:?}");
}

#[sqlx::test]
async fn a_spare_that_fails_is_replaced_after_a_doubling_backoff(pool: PgPool) {
    let lab = lab_with(
        &pool,
        &Settings {
            lessons: vec![(LESSON, 1)],
            backoff_secs: 1.0,
            ..Settings::default()
        },
    )
    .await;
    let knobs = lab.sim.knobs();
    knobs.set_image_behaviour("*utility*", Behaviour::PullFailure);

    let mut backoffs = Vec::new();
    for failure in 1..=2 {
        assert_eq!(refill_now(&lab).await.created, 1, "failure {failure}");
        let spare = spares(&pool).await.remove(0);
        let job = lab.job(CREATE, &spare).await;
        let worker = pool_worker(&lab, worker_config());
        let mut events = worker.subscribe();
        let (stop, handle) = start(worker);
        assert_eq!(
            finished(&mut events, job, Duration::from_secs(60)).await,
            WorkerEvent::Failed(job)
        );
        let _ = stop.send(());
        handle.await.expect("worker");
        assert_eq!(
            lab.livelesson(&spare).await.expect("spare").status,
            Status::Error
        );
        // The failed spare is retired and none replaces it during the backoff.
        let counts = refill_now(&lab).await;
        assert_eq!((counts.failed, counts.created), (1, 0), "failure {failure}");
        assert!(lab.livelesson(&spare).await.expect("spare").deleting);
        lab.job(DELETE, &spare).await;
        assert_eq!(refill_now(&lab).await.created, 0, "still backing off");
        let (consecutive, backoff): (i32, f64) = sqlx::query_as(
            "select consecutive_failures,
                    extract(epoch from backoff_until - last_failure_at)::float8
             from pool_lessons where lesson_slug = $1",
        )
        .bind(LESSON)
        .fetch_one(&pool)
        .await
        .expect("pool lesson");
        assert_eq!(consecutive, failure);
        backoffs.push(backoff);
        let lessons = pool_sql::lesson_pools(&pool).await.expect("lesson pools");
        let record = lessons.iter().find(|l| l.lesson_slug == LESSON).unwrap();
        assert!(
            record
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("ErrImagePull")),
            "{record:?}"
        );
        // Past the backoff (the stored deadline), the next pass replaces it.
        let until: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("select backoff_until from pool_lessons where lesson_slug = $1")
                .bind(LESSON)
                .fetch_one(&pool)
                .await
                .expect("backoff");
        let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(50)).await;
        if failure == 2 {
            knobs.clear_behaviours();
        }
    }
    println!("backoffs after one and two failures in a row: {backoffs:?} s");
    assert!((backoffs[0] - 1.0).abs() < 0.1, "{backoffs:?}");
    assert!((backoffs[1] - 2.0).abs() < 0.1, "doubled: {backoffs:?}");
    // The lesson works again: its replacement reaches READY and the streak ends.
    let ids = ready_spares(&lab).await;
    assert_eq!(ids.len(), 1);
    refill_now(&lab).await;
    let consecutive: i32 =
        sqlx::query_scalar("select consecutive_failures from pool_lessons where lesson_slug = $1")
            .bind(LESSON)
            .fetch_one(&pool)
            .await
            .expect("pool lesson");
    assert_eq!(consecutive, 0);
    let failures = antidote_scheduler::telemetry::metrics()
        .pool_spares_failed
        .with_label_values(&[LESSON])
        .get();
    assert!(failures >= 2, "failures counted in metrics: {failures}");
}

#[sqlx::test]
async fn spares_past_the_maximum_age_are_replaced_and_never_handed_out_meanwhile(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let mut settings = Settings {
        lessons: vec![(LESSON, 2)],
        ..Settings::default()
    };
    apply(&pool, &settings).await;
    let old: BTreeSet<LivelessonId> = ready_spares(&lab).await.into_iter().collect();
    // Every spare is now past the maximum age.
    settings.max_age_secs = 0.001;
    apply(&pool, &settings).await;
    let session = lab.session().await;
    let outcome = request_outcome(&lab, &session, LESSON, 0).await;
    assert!(
        matches!(outcome, Requested::Created(_)),
        "an aged spare is not handed out: {outcome:?}"
    );
    let counts = refill_now(&lab).await;
    assert_eq!((counts.aged, counts.created), (2, 2));
    settings.max_age_secs = 3600.0;
    apply(&pool, &settings).await;
    for id in &old {
        assert!(lab.livelesson(id).await.expect("old spare").deleting);
    }
    // While the replacements provision, requests are misses; the old ones are gone.
    let session = lab.session().await;
    assert!(matches!(
        request_outcome(&lab, &session, LESSON, 0).await,
        Requested::Created(_)
    ));
    let new = spares(&pool).await;
    assert!(new.iter().all(|id| !old.contains(id)));
    let mut jobs = create_jobs(&lab, &new).await;
    for id in &old {
        jobs.push(lab.job(DELETE, id).await);
    }
    run_until_done(&lab, &jobs).await;
    for id in &old {
        assert!(lab.livelesson(id).await.is_none(), "old spare {id} deleted");
    }
    let session = lab.session().await;
    let outcome = request_outcome(&lab, &session, LESSON, 0).await;
    let Requested::FromPool(ll) = outcome else {
        panic!("a replacement is taken: {outcome:?}");
    };
    assert!(new.contains(&ll.id));
}

#[sqlx::test]
async fn spares_are_invisible_to_the_exp_api_and_nobody_can_kill_or_touch_them(pool: PgPool) {
    let lab = lab_with(&pool, &Settings::pool(LESSON, 1)).await;
    refill_now(&lab).await;
    let spare = spares(&pool).await.remove(0);
    assert!(matches!(
        request::kill(&pool, &lab.queue, &spare).await,
        Err(request::RequestError::UnknownLivelesson(_))
    ));
    assert!(!request::heartbeat(&pool, &spare).await.expect("heartbeat"));
    let server = api_server(&lab).await;
    let answer = reqwest::get(format!("{}/exp/livelesson/{spare}", server.base))
        .await
        .expect("GET");
    assert_eq!(answer.status(), 404);
    server.stop().await;
    let ll = lab.livelesson(&spare).await.expect("spare");
    assert!(ll.spare && !ll.deleting);
}

#[sqlx::test]
async fn expiry_orphan_sweep_and_reconciliation_treat_spares_and_taken_labs_right(pool: PgPool) {
    let lab = lab_with(&pool, &Settings::pool(LESSON, 3)).await;
    // Oldest first: the oldest is the one a request takes.
    let ids = ready_spares(&lab).await;
    let (taken, broken, idle) = (&ids[0], &ids[1], &ids[2]);
    let session = lab.session().await;
    let outcome = request_outcome(&lab, &session, LESSON, 0).await;
    assert_eq!(&outcome.livelesson().id, taken);
    // Two hours later, both long inactive (and the learner's lab within its 8-hour
    // deadline): the spare is not expired, the learner's lab is, for inactivity.
    let config = gc::Config::default();
    let two_hours_later = lab.later(Duration::from_secs(2 * 3600)).await;
    let expired = gc::expiry::run_once(&two_hours_later, &config)
        .await
        .expect("expiry");
    assert_eq!(expired.inactive, 1);
    assert!(lab.livelesson(taken).await.unwrap().deleting);
    assert!(!lab.livelesson(idle).await.unwrap().deleting);

    // The orphan sweep leaves spares' namespaces alone, however old.
    let backend = KubernetesBackend::new(lab.kube.clone(), lab.settings.clone());
    let sweep = gc::orphans::run_once(
        &pool,
        &backend,
        &gc::Config {
            orphan_grace: Duration::ZERO,
            ..gc::Config::default()
        },
    )
    .await
    .expect("orphans");
    assert_eq!(sweep.deleted, 0, "{sweep:?}");

    // Reconciliation marks a spare whose namespace vanished ERROR (healthy ones stay
    // READY), and the next refill replaces it as a failure.
    backend.delete_namespace(broken).await.expect("delete");
    backend.wait_namespace_gone(broken).await.expect("gone");
    let reconciled = gc::reconcile::run_once(&pool, &backend, &config)
        .await
        .expect("reconcile");
    assert_eq!(reconciled.namespace_missing, 1, "{reconciled:?}");
    assert_eq!(lab.livelesson(broken).await.unwrap().status, Status::Error);
    assert_eq!(lab.livelesson(idle).await.unwrap().status, Status::Ready);
    let counts = refill_now(&lab).await;
    assert_eq!((counts.failed, counts.created), (1, 0), "backing off");
    assert!(lab.livelesson(broken).await.unwrap().deleting);
}

#[sqlx::test]
async fn capacity_twenty_with_thirty_requests_keeps_ten_waiting_in_fifo_order(pool: PgPool) {
    let lab = lab_with(
        &pool,
        &Settings {
            max_live: 20,
            ..Settings::default()
        },
    )
    .await;
    let mut admitted = Vec::new();
    let mut waiting = Vec::new();
    for i in 0..30 {
        let session = lab.session().await;
        match request_outcome(&lab, &session, LESSON, 0).await {
            Requested::Created(ll) => admitted.push(ll.id),
            Requested::Waiting(ll) => {
                assert_eq!(ll.status, Status::Initialized);
                assert!(!ll.admitted);
                waiting.push(ll.id);
            }
            other => panic!("request {i}: {other:?}"),
        }
    }
    assert_eq!((admitted.len(), waiting.len()), (20, 10));
    for (place, id) in waiting.iter().enumerate() {
        assert_eq!(
            pool_sql::place_in_line(&pool, id).await.expect("place"),
            Some(i64::try_from(place).expect("place") + 1)
        );
        let jobs: i64 = sqlx::query_scalar("select count(*) from jobs_all where unique_key = $1")
            .bind(format!("{CREATE}:{id}"))
            .fetch_one(&pool)
            .await
            .expect("jobs");
        assert_eq!(jobs, 0, "no CREATE while waiting");
    }
    let worker = pool_worker(&lab, worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let jobs = create_jobs(&lab, &admitted).await;
    let outcomes = all_finished(&mut events, &jobs, Duration::from_secs(60)).await;
    assert_eq!(outcomes.len(), 20);

    // Each kill lets the first in line in, and only it.
    for (k, next) in waiting.iter().enumerate() {
        request::kill(&pool, &lab.queue, &admitted[k])
            .await
            .expect("kill");
        wait_until(Duration::from_secs(30), "admitted after a kill", || async {
            lab.livelesson(next).await.is_some_and(|ll| ll.admitted)
        })
        .await;
        for later in &waiting[k + 1..] {
            assert!(!lab.livelesson(later).await.unwrap().admitted, "FIFO");
        }
        let create = lab.job(CREATE, next).await;
        assert_eq!(
            finished(&mut events, create, Duration::from_secs(30)).await,
            WorkerEvent::Completed(create)
        );
        assert_eq!(lab.livelesson(next).await.unwrap().status, Status::Ready);
        let live: i64 = sqlx::query_scalar("select count(*) from livelessons where admitted")
            .fetch_one(&pool)
            .await
            .expect("live");
        assert!(live <= 20, "capacity held: {live}");
    }
    let _ = stop.send(());
    handle.await.expect("worker");
}

#[sqlx::test]
async fn a_waiting_learner_makes_a_spare_of_another_lesson_give_way(pool: PgPool) {
    let lab = lab_with(
        &pool,
        &Settings {
            lessons: vec![(LESSON, 2)],
            max_live: 3,
            ..Settings::default()
        },
    )
    .await;
    let spare_ids = ready_spares(&lab).await;
    let other = "web-automation";
    let first = request_outcome(&lab, &lab.session().await, other, 0).await;
    assert!(matches!(first, Requested::Created(_)), "{first:?}");
    let second = request_outcome(&lab, &lab.session().await, other, 0).await;
    let Requested::Waiting(second) = second else {
        panic!("the cluster is full: {second:?}");
    };
    let giving_way: Vec<LivelessonId> =
        sqlx::query_scalar("select id from livelessons where spare and deleting order by id")
            .fetch_all(&pool)
            .await
            .expect("deleting spares");
    assert_eq!(giving_way.len(), 1);
    assert!(spare_ids.contains(&giving_way[0]));
    let worker = pool_worker(&lab, worker_config());
    let (stop, handle) = start(worker);
    wait_until(
        Duration::from_secs(60),
        "the waiting learner is admitted",
        || async {
            lab.livelesson(&second.id)
                .await
                .is_some_and(|ll| ll.admitted)
        },
    )
    .await;
    // The pool does not refill while the cluster is full.
    assert_eq!(spares(&pool).await.len(), 1);
    let _ = stop.send(());
    handle.await.expect("worker");
}

/// The real front end's first poll, seen by the API: a spare taken is READY at once.
#[sqlx::test]
async fn a_lab_from_a_pool_is_ready_at_the_first_poll_over_http(pool: PgPool) {
    let lab = lab_with(&pool, &Settings::pool(LESSON, 1)).await;
    ready_spares(&lab).await;
    let server = api_server(&lab).await;
    let http = reqwest::Client::new();
    let session: serde_json::Value = http
        .post(format!("{}/exp/livesession", server.base))
        .body("{}")
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let session = session["ID"].as_str().expect("id").to_owned();
    let started = std::time::Instant::now();
    let id: serde_json::Value = http
        .post(format!("{}/exp/livelesson", server.base))
        .body(
            serde_json::json!({"sessionId": session, "lessonSlug": LESSON, "lessonStage": 0})
                .to_string(),
        )
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let id = id["id"].as_str().expect("id").to_owned();
    let shown: serde_json::Value = http
        .get(format!("{}/exp/livelesson/{id}", server.base))
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    let elapsed = started.elapsed();
    println!("request and first poll of a pooled lab: {elapsed:?}");
    assert_eq!(shown["Status"], "READY", "{shown}");
    assert_eq!(shown["SessionID"], session.as_str());
    assert!(shown.get("PlaceInLine").is_none());
    server.stop().await;
}
