//! Livelessons end to end on the real control plane: the real workflows with the
//! scheduler's ServiceAccount, pods run by the node agent, configuration Jobs run by the
//! real job controller, namespaces terminated by the real namespace controller.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use antidote_scheduler::queue::WorkerEvent;
use antidote_scheduler::queue::inspect as jobs;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::{CREATE, DELETE, MODIFY, request};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use sqlx::PgPool;

use crate::helpers::{
    ChildWorker, all_finished, database_url, finished, start, trail, worker_config,
};
use crate::lab::Lab;

const LESSONS: [&str; 4] = [
    "linux-first-steps",
    "router-configuration",
    "web-automation",
    "notebook-automation",
];

#[sqlx::test]
async fn real_control_plane_every_example_lesson_reaches_ready_changes_stage_and_is_deleted(
    pool: PgPool,
) {
    let test = "real_control_plane_every_example_lesson_reaches_ready";
    let Some(lab) = Lab::start(pool, test).await else {
        return;
    };
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let session = lab.session().await;
    let mut created = Vec::new();
    for lesson in LESSONS {
        created.push((lesson, lab.request(&session, lesson, 0).await.id));
    }
    let mut creates = Vec::new();
    for (_, id) in &created {
        creates.push(lab.job(CREATE, id).await);
    }
    let outcomes = all_finished(&mut events, &creates, Duration::from_secs(240)).await;
    for ((lesson, id), job) in created.iter().zip(&creates) {
        let ll = lab.livelesson(id).await.expect("livelesson");
        assert_eq!(
            outcomes.get(job),
            Some(&WorkerEvent::Completed(*job)),
            "{lesson}: {:?}; {}",
            ll.error,
            trail(&lab.pool, *job).await
        );
        assert_eq!(ll.status, Status::Ready, "{lesson}");
        assert_eq!(ll.healthy_tests, ll.total_tests, "{lesson}");
        for endpoint in &ll.endpoints {
            let host: Ipv4Addr = endpoint
                .host
                .as_deref()
                .and_then(|h| h.parse().ok())
                .unwrap_or_else(|| panic!("{lesson}/{}: host {:?}", endpoint.name, endpoint.host));
            assert!(
                lab.plane.service_range.contains(host),
                "{lesson}/{}: {host} is a ClusterIP of the test's range",
                endpoint.name
            );
        }
    }
    // The real job controller ran the configuration Jobs of stage 0.
    let router = &created[1].1;
    let router_ns = format!("test-{router}");
    let configured = Api::<Job>::namespaced(lab.admin.clone(), &router_ns)
        .list(&ListParams::default())
        .await
        .expect("jobs listed");
    assert!(
        !configured.items.is_empty(),
        "router-configuration has jobs"
    );
    for job in &configured.items {
        let status = job.status.clone().unwrap_or_default();
        assert_eq!(status.succeeded, Some(1), "{:?}", job.metadata.name);
        assert!(
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Complete" && c.status == "True"),
            "{:?} is Complete",
            job.metadata.name
        );
    }

    // A stage change on every lesson that has a second stage.
    let mut modifies = Vec::new();
    for (lesson, id) in &created[1..] {
        lab.request(&session, lesson, 1).await;
        modifies.push((*lesson, lab.job(MODIFY, id).await));
    }
    let jobs: Vec<_> = modifies.iter().map(|(_, job)| *job).collect();
    let outcomes = all_finished(&mut events, &jobs, Duration::from_secs(120)).await;
    for ((lesson, job), (_, id)) in modifies.into_iter().zip(&created[1..]) {
        assert!(
            outcomes.get(&job) == Some(&WorkerEvent::Completed(job)),
            "{lesson} stage 1: {:?}; {}\n{}",
            outcomes.get(&job),
            trail(&lab.pool, job).await,
            lab.describe_namespace(&format!("test-{id}")).await
        );
    }

    let mut deletes = Vec::new();
    for (_, id) in &created {
        request::kill(&lab.pool, &lab.queue, id)
            .await
            .expect("kill");
        deletes.push(lab.job(DELETE, id).await);
    }
    let outcomes = all_finished(&mut events, &deletes, Duration::from_secs(240)).await;
    for job in &deletes {
        assert_eq!(
            outcomes.get(job),
            Some(&WorkerEvent::Completed(*job)),
            "{}",
            trail(&lab.pool, *job).await
        );
    }
    let namespaces = Api::<Namespace>::all(lab.admin.clone())
        .list(&ListParams::default().labels("antidoteId=test"))
        .await
        .expect("namespaces listed");
    assert!(
        namespaces.items.is_empty(),
        "the namespace controller removed every livelesson namespace"
    );
    let _ = stop.send(());
    handle.await.expect("worker");
}

#[sqlx::test]
async fn real_control_plane_a_worker_killed_at_a_create_step_boundary_is_resumed(pool: PgPool) {
    let test = "real_control_plane_a_worker_killed_at_a_create_step_boundary";
    let Some(lab) = Lab::start(pool.clone(), test).await else {
        return;
    };
    let url = database_url(&pool).await;
    let mut signal = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    signal.listen("test_signal").await.expect("listen");
    let crash_at = "config-start:0";
    let session = lab.session().await;
    let ll = lab.request(&session, "router-configuration", 0).await;
    let job = lab.job(CREATE, ll.id.as_str()).await;
    let mut child = ChildWorker::spawn_for(
        &url,
        ("CHILD_KUBECONFIG", lab.scheduler_kubeconfig.as_os_str()),
        crash_at,
    );
    let note = tokio::time::timeout(Duration::from_secs(180), signal.recv())
        .await
        .unwrap_or_else(|_| panic!("the child reached {crash_at} in time"))
        .expect("notification");
    assert_eq!(note.payload(), crash_at);
    child.kill();

    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    assert_eq!(
        finished(&mut events, job, Duration::from_secs(120)).await,
        WorkerEvent::Completed(job),
        "after a crash at {crash_at}: {}",
        trail(&lab.pool, job).await
    );
    let _ = stop.send(());
    handle.await.expect("worker");
    assert_eq!(
        lab.livelesson(&ll.id).await.expect("ll").status,
        Status::Ready
    );
    let trail = jobs::events(&pool, job).await.expect("events");
    for step in ["namespace", "pods-ready", "config-start:0"] {
        let starts = trail
            .iter()
            .filter(|e| e.kind == "step_started" && e.step.as_deref() == Some(step))
            .count();
        assert_eq!(starts, 1, "{step} ran once around a crash at {crash_at}");
    }
    assert!(
        trail.iter().any(|e| e.kind == "rescued"),
        "the job was rescued"
    );
    // The configuration Jobs the crashed worker started are the ones that ran: the real
    // job controller completed each exactly once.
    let ns = format!("test-{}", ll.id);
    let configured = Api::<Job>::namespaced(lab.admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("jobs listed");
    let done: BTreeMap<String, i32> = configured
        .items
        .iter()
        .map(|j| {
            (
                j.metadata.name.clone().unwrap_or_default(),
                j.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done.values().all(|n| *n == 1), "{done:?}");
}
