//! Infrastructure faults during provisioning: PostgreSQL connections cut, the Kubernetes
//! API unreachable for a while. Nothing is lost: every livelesson still reaches READY.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use antidote_scheduler::queue::{StepHook, WorkerEvent};
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::CREATE;
use sqlx::{Connection, PgPool};

use super::LESSONS;
use super::helpers::{Lab, all_finished, database_url, start, trail, worker_config};

/// Requests every example lesson with `hook` installed on the worker, and asserts that
/// all of them reach READY. Returns the number of `retry_scheduled` events.
async fn provision_through(lab: &Lab, hook: StepHook) -> i64 {
    // Every request is in before a worker starts, so the fault hits provisioning only
    // (a request whose own connection is cut fails, correctly, and commits nothing).
    let session = lab.session().await;
    let mut created = Vec::new();
    for lesson in LESSONS {
        let ll = lab.request(&session, lesson, 0).await;
        created.push((lesson, ll.id.clone(), lab.job(CREATE, &ll.id).await));
    }
    let mut config = worker_config();
    config.step_hook = Some(hook);
    let worker = lab.worker(config);
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let jobs: Vec<_> = created.iter().map(|(_, _, job)| *job).collect();
    let outcomes = all_finished(&mut events, &jobs, Duration::from_secs(120)).await;
    for (lesson, id, job) in &created {
        let trail = trail(&lab.pool, *job).await;
        assert_eq!(
            outcomes.get(job),
            Some(&WorkerEvent::Completed(*job)),
            "{lesson}: {trail}"
        );
        let ll = lab.livelesson(id).await.expect("livelesson");
        assert_eq!(ll.status, Status::Ready, "{lesson}: {trail}");
    }
    let _ = stop.send(());
    handle.await.expect("worker");
    sqlx::query_scalar("select count(*) from job_events where kind = 'retry_scheduled'")
        .fetch_one(&lab.pool)
        .await
        .expect("count")
}

#[sqlx::test]
async fn provisioning_survives_the_kubernetes_api_going_away_for_a_while(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let knobs = lab.sim.knobs().clone();
    let fired = Arc::new(AtomicBool::new(false));
    // The first namespace checkpoint starts a two-second outage, then the API returns.
    let hook = StepHook(Arc::new(move |_job, step| {
        let knobs = knobs.clone();
        let fired = fired.clone();
        Box::pin(async move {
            if step == "namespace" && !fired.swap(true, Ordering::SeqCst) {
                knobs.set_unreachable(true).await;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    knobs.set_unreachable(false).await;
                });
            }
        })
    }));
    let retries = provision_through(&lab, hook).await;
    println!("kubernetes outage of 2 s: retries scheduled {retries}, lost 0");
    assert!(
        retries > 0,
        "the outage was felt: steps failed and were retried"
    );
}

#[sqlx::test]
async fn provisioning_survives_postgres_connections_being_cut(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let url = database_url(&pool).await;
    let fired = Arc::new(AtomicBool::new(false));
    let terminated = Arc::new(AtomicU64::new(0));
    let counter = terminated.clone();
    // At the first BOOTING checkpoint, cut every connection to the database five times,
    // 150 ms apart, from a connection of our own (so the hook does not cut itself).
    let hook = StepHook(Arc::new(move |_job, step| {
        let url = url.clone();
        let fired = fired.clone();
        let counter = counter.clone();
        Box::pin(async move {
            if step == "status:BOOTING" && !fired.swap(true, Ordering::SeqCst) {
                tokio::spawn(async move {
                    for _ in 0..5 {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                            let cut: Vec<bool> = sqlx::query_scalar(
                                "select pg_terminate_backend(pid) from pg_stat_activity
                                 where datname = current_database() and pid <> pg_backend_pid()",
                            )
                            .fetch_all(&mut conn)
                            .await
                            .unwrap_or_default();
                            counter.fetch_add(cut.len() as u64, Ordering::SeqCst);
                            let _ = conn.close().await;
                        }
                        tokio::time::sleep(Duration::from_millis(150)).await;
                    }
                });
            }
        })
    }));
    let retries = provision_through(&lab, hook).await;
    let cut = terminated.load(Ordering::SeqCst);
    println!("postgres connections cut: {cut}, retries scheduled {retries}, lost 0");
    assert!(cut > 0, "connections were cut");
}

/// Regression: on a job's last attempt, an error of the engine itself (here a stored step
/// output that no longer reads as its type) failed the job, but the workflow did not take
/// it for a final failure and recorded no ERROR: the learner's lab stayed BOOTING for ever
/// behind a failed job.
#[sqlx::test]
async fn an_engine_error_on_the_last_attempt_records_the_livelesson_error(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let session = lab.session().await;
    let ll = lab.request(&session, "linux-first-steps", 0).await;
    let job = lab.job(CREATE, &ll.id).await;
    // An earlier attempt ran (and checkpointed); the next one is the last.
    sqlx::query(
        "update jobs set attempt = 1, attempted_at = now() - interval '1 minute', max_attempts = 2
         where id = $1",
    )
    .bind(job.0)
    .execute(&lab.pool)
    .await
    .expect("one attempt left");
    sqlx::query(
        "insert into job_steps (job_id, name, output, attempt, worker)
         values ($1, 'images', '\"not the unit the step returns\"', 1, 'an-earlier-worker')",
    )
    .bind(job.0)
    .execute(&lab.pool)
    .await
    .expect("an unreadable checkpoint");

    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let outcomes = all_finished(&mut events, &[job], Duration::from_secs(60)).await;
    let trail = trail(&lab.pool, job).await;
    assert_eq!(
        outcomes.get(&job),
        Some(&WorkerEvent::Failed(job)),
        "{trail}"
    );
    let failed = lab.livelesson(&ll.id).await.expect("livelesson");
    assert_eq!(failed.status, Status::Error, "{trail}");
    let error = failed.error.expect("the failure is recorded");
    assert_eq!(error.step.as_deref(), Some("images"));
    assert!(error.reason.contains("images"), "{}", error.reason);
    let _ = stop.send(());
    handle.await.expect("worker");
}

/// A Kubernetes call that never answers (a hung API server) is stopped at its kind's
/// attempt timeout from the production table of contracts, retried, and the last
/// attempt's failure leaves the livelesson in ERROR naming the step that hung.
#[sqlx::test]
async fn a_hung_kubernetes_call_times_out_and_the_last_attempt_records_error_at_its_step(
    pool: PgPool,
) {
    use std::collections::BTreeMap;

    use antidote_scheduler::gc;
    use antidote_scheduler::kinds::{ContractSettings, Contracts};

    let lab = Lab::start(pool).await;
    lab.sim.knobs().hang("create", "namespaces");
    let mut registry = lab.registry(gc::Config::default());
    let settings = BTreeMap::from([(
        CREATE.to_owned(),
        ContractSettings {
            timeout_secs: Some(1),
            retry_base_ms: Some(50),
            retry_max_ms: Some(100),
        },
    )]);
    let contracts = Contracts::new(&lab.settings, &settings).expect("valid contracts");
    contracts
        .apply(&mut registry)
        .expect("every kind has a contract");
    let worker = lab.worker_with(registry, worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let began = std::time::Instant::now();
    let session = lab.session().await;
    let ll = lab.request(&session, "linux-first-steps", 0).await;
    let job = lab.job(CREATE, &ll.id).await;
    let outcomes = all_finished(&mut events, &[job], Duration::from_secs(60)).await;
    let trail = trail(&lab.pool, job).await;
    assert_eq!(
        outcomes.get(&job),
        Some(&WorkerEvent::Failed(job)),
        "{trail}"
    );
    let attempts: i32 = sqlx::query_scalar("select attempt from jobs_all where id = $1")
        .bind(job.0)
        .fetch_one(&lab.pool)
        .await
        .expect("attempts");
    let failed = lab.livelesson(&ll.id).await.expect("livelesson");
    assert_eq!(failed.status, Status::Error, "{trail}");
    let error = failed.error.expect("the failure is recorded");
    assert_eq!(error.step.as_deref(), Some("namespace"), "{trail}");
    assert!(error.reason.contains("timed out"), "{}", error.reason);
    assert_eq!(
        attempts,
        antidote_scheduler::kinds::LIVELESSON_ATTEMPTS,
        "{trail}"
    );
    println!(
        "hung namespace creation: {attempts} attempts stopped at their 1 s timeout, ERROR at step namespace after {:.1} s",
        began.elapsed().as_secs_f64()
    );
    lab.sim.knobs().clear_hangs();
    let _ = stop.send(());
    handle.await.expect("worker");
}

/// Killing a livelesson whose CREATE waits for its endpoints (here for ever: the port
/// never listens, under a 600 s reachability budget) stops the CREATE at once through its
/// worker, and the DELETE runs straight after: the namespace is gone within seconds. The
/// worker runs production lease and heartbeat periods, so the stop comes from the cancel
/// notice, not from a renewal.
#[sqlx::test]
async fn killing_a_livelesson_during_reachability_stops_its_create_and_deletes_at_once(
    pool: PgPool,
) {
    use antidote_scheduler::queue::JobState;
    use antidote_scheduler::queue::inspect as jobs;
    use antidote_scheduler::workflow::request;
    use k8s_openapi::api::core::v1::Namespace;
    use kubesim::Behaviour;

    let lab = Lab::start(pool).await;
    lab.sim
        .knobs()
        .set_image_behaviour("*utility*", Behaviour::PortNeverListens(22));
    let settings = antidote_scheduler::backend::Settings {
        reachability_timeout: Duration::from_secs(600),
        ..lab.settings.clone()
    };
    let registry = super::helpers::registry(lab.kube.clone(), &settings);
    let config = antidote_scheduler::queue::WorkerConfig {
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_secs(10),
        ..worker_config()
    };
    let worker = lab.worker_with(registry, config);
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let session = lab.session().await;
    let ll = lab.request(&session, "linux-first-steps", 0).await;
    let create = lab.job(CREATE, &ll.id).await;
    job_engine::testing::wait_for(&mut events, Duration::from_secs(60), |event| {
        matches!(event, WorkerEvent::StepDone { job, step } if *job == create && step == "hosts")
    })
    .await
    .expect("the CREATE reaches its reachability wait");

    let killed = std::time::Instant::now();
    request::kill(&lab.pool, &lab.queue, &ll.id)
        .await
        .expect("kill");
    let namespace = lab.settings.namespace(&ll.id);
    let namespaces: kube::Api<Namespace> = kube::Api::all(lab.kube.clone());
    let deadline = killed + Duration::from_secs(30);
    while namespaces
        .get_opt(&namespace)
        .await
        .expect("namespace lookup")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            trail(&lab.pool, create).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = killed.elapsed();
    let create_state = jobs::job(&lab.pool, create)
        .await
        .expect("job")
        .expect("exists")
        .state;
    assert_eq!(
        create_state,
        JobState::Cancelled,
        "{}",
        trail(&lab.pool, create).await
    );
    println!(
        "kill during a 600 s reachability wait: CREATE cancelled, namespace gone {:.2} s after the kill",
        gone.as_secs_f64()
    );
    assert!(
        gone < Duration::from_secs(5),
        "namespace gone {gone:?} after the kill"
    );
    let _ = stop.send(());
    handle.await.expect("worker");
}
