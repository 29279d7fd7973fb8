//! The Kubernetes API going away mid-provisioning: kube-apiserver restarted, and
//! separately etcd restarted under a running API server, while livelessons are being
//! provisioned and more are requested. Afterwards every livelesson is READY: the shared
//! watches resumed (no READY missed), the calls that met the outage failed as transient
//! with their cause in the audit trail and were retried, and no object was created twice.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use antidote_scheduler::queue::inspect as jobs;
use antidote_scheduler::queue::{JobId, RetryPolicy, WorkerEvent};
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::CREATE;
use job_engine::testing;
use sqlx::PgPool;
use tokio::sync::broadcast;

use crate::helpers::{all_finished, start, trail, worker_config};
use crate::lab::{Lab, SCHEDULER_ACCOUNT, SCHEDULER_NAMESPACE};

const LESSONS: [&str; 4] = [
    "linux-first-steps",
    "router-configuration",
    "web-automation",
    "notebook-automation",
];

/// What goes away.
#[derive(Debug, Clone, Copy)]
enum Outage {
    ApiServer,
    Etcd,
}

#[sqlx::test]
async fn real_control_plane_kube_apiserver_restarted_mid_provisioning(pool: PgPool) {
    outage(pool, Outage::ApiServer).await;
}

#[sqlx::test]
async fn real_control_plane_etcd_restarted_mid_provisioning(pool: PgPool) {
    outage(pool, Outage::Etcd).await;
}

async fn outage(pool: PgPool, outage: Outage) {
    let test = format!("real_control_plane_{outage:?}_restarted_mid_provisioning");
    let Some(mut lab) = Lab::start(pool.clone(), &test).await else {
        return;
    };
    // Backoff long enough that a job's eight attempts outlast a restart of the API
    // server (several seconds on two cores) and short enough to resume promptly after it.
    let config = antidote_scheduler::queue::WorkerConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(500),
            max: Duration::from_secs(8),
            jitter: 0.0,
        },
        ..worker_config()
    };
    let worker = lab.worker(config);
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);

    // Livelessons under way when the API goes.
    let before = lab.session().await;
    let mut creates = Vec::new();
    for lesson in LESSONS {
        let id = lab.request(&before, lesson, 0).await.id;
        creates.push((lesson, id.clone(), lab.job(CREATE, id.as_str()).await));
    }
    let first = creates[0].2;
    let underway = step_done(&mut events, |job| job == first, "namespace").await;
    eprintln!("{test}: {underway:?} done; stopping {outage:?}");
    let stopped = Instant::now();
    match outage {
        Outage::ApiServer => lab.plane.stop_apiserver(),
        Outage::Etcd => lab.plane.stop_etcd(),
    }
    eprintln!(
        "{test}: {outage:?} stopped in {:.1} s",
        stopped.elapsed().as_secs_f64()
    );

    // Livelessons requested while it is away: their first backend call meets the outage.
    let during = lab.session().await;
    let mut met = Vec::new();
    for lesson in LESSONS {
        let id = lab.request(&during, lesson, 0).await.id;
        let job = lab.job(CREATE, id.as_str()).await;
        met.push(job);
        creates.push((lesson, id, job));
    }
    let Some(retried) = retry_scheduled(&mut events, &met).await else {
        let mut trails = String::new();
        for job in &met {
            let _ = write!(trails, "\n{job:?}: {}", trail(&pool, *job).await);
        }
        panic!("no job requested during the outage failed an attempt in time:{trails}");
    };
    eprintln!(
        "{test}: job {retried:?} met the outage {:.1} s after the stop; starting {outage:?}",
        stopped.elapsed().as_secs_f64()
    );
    match outage {
        Outage::ApiServer => lab.plane.start_apiserver_again().await,
        Outage::Etcd => lab.plane.start_etcd_again().await,
    }
    eprintln!(
        "{test}: {outage:?} back after {:.1} s",
        stopped.elapsed().as_secs_f64()
    );

    let jobs_of: Vec<JobId> = creates.iter().map(|(_, _, job)| *job).collect();
    let outcomes = all_finished(&mut events, &jobs_of, Duration::from_secs(240)).await;
    for (lesson, id, job) in &creates {
        let ll = lab.livelesson(id).await.expect("livelesson");
        assert_eq!(
            outcomes.get(job),
            Some(&WorkerEvent::Completed(*job)),
            "{lesson} ({id}): {:?}; {}",
            ll.error,
            trail(&lab.pool, *job).await
        );
        assert_eq!(ll.status, Status::Ready, "{lesson} ({id})");
        assert_eq!(ll.healthy_tests, ll.total_tests, "{lesson} ({id})");
    }
    eprintln!(
        "{test}: all {} livelessons READY {:.1} s after the stop",
        creates.len(),
        stopped.elapsed().as_secs_f64()
    );

    // The failure the outage caused is in the audit trail, with its cause, and was
    // retried as transient (the job went on to complete above).
    let trail_of_retried = jobs::events(&pool, retried).await.expect("events");
    let causes: Vec<String> = trail_of_retried
        .iter()
        .filter(|e| e.kind == "step_failed" || e.kind == "failed")
        .filter_map(|e| e.detail.clone())
        .collect();
    assert!(
        !causes.is_empty(),
        "the outage's failure is recorded: {}",
        trail(&pool, retried).await
    );
    eprintln!("{test}: recorded causes: {causes:?}");

    // Every object the scheduler made was made once: a call retried over the outage found
    // what an earlier try had made, never made a second one.
    let user = format!("system:serviceaccount:{SCHEDULER_NAMESPACE}:{SCHEDULER_ACCOUNT}");
    let mut made: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let audited = lab.plane.audit();
    let scheduler_calls = audited.iter().filter(|a| a.user == user).count();
    for call in audited
        .into_iter()
        .filter(|a| a.user == user && a.verb == "create" && a.code == 201)
    {
        *made
            .entry((call.resource, call.namespace, call.name))
            .or_default() += 1;
    }
    assert!(!made.is_empty(), "the scheduler's creates are audited");
    let twice: Vec<_> = made.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "created more than once: {twice:?}");
    eprintln!(
        "{test}: {} objects created once each; {scheduler_calls} calls by the scheduler",
        made.len()
    );

    let _ = stop.send(());
    handle.await.expect("worker");
}

/// Waits for a job matching `which` to complete step `step`.
async fn step_done(
    events: &mut broadcast::Receiver<WorkerEvent>,
    which: impl Fn(JobId) -> bool,
    step: &str,
) -> JobId {
    let done = testing::wait_for(events, Duration::from_secs(120), |event| {
        matches!(event, WorkerEvent::StepDone { job, step: done } if which(*job) && done == step)
    })
    .await;
    match done {
        Some(WorkerEvent::StepDone { job, .. }) => job,
        _ => panic!("no job completed {step} in time"),
    }
}

/// Waits until one of `jobs` has a failed attempt scheduled for retry.
async fn retry_scheduled(
    events: &mut broadcast::Receiver<WorkerEvent>,
    jobs: &[JobId],
) -> Option<JobId> {
    let retried = testing::wait_for(
        events,
        Duration::from_secs(120),
        |event| matches!(event, WorkerEvent::RetryScheduled(job) if jobs.contains(job)),
    )
    .await;
    match retried {
        Some(WorkerEvent::RetryScheduled(job)) => Some(job),
        _ => None,
    }
}
