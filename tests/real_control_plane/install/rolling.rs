//! A rolling restart of the worker pods mid-provisioning loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use antidote_scheduler::backend::Livelesson;
use antidote_scheduler::backend::kubernetes::resources::nad_api_resource;
use antidote_scheduler::backend::kubernetes::resources::objects::{Object, livelesson_objects};
use antidote_scheduler::curriculum::{self, Curriculum, Options, names};
use antidote_scheduler::ids::{LivelessonId, SessionId};
use antidote_scheduler::queue::JobId;
use antidote_scheduler::workflow::CREATE;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, Pod as KubePod, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::Api;
use kube::api::ListParams;
use kube::core::{ApiResource, DynamicObject};
use sqlx::PgPool;

use crate::incluster::{Container, Pod};
use crate::lab::{Lab, SCHEDULER_ACCOUNT};

use super::pods::*;
use super::render::*;
use super::*;

/// Whether a worker of pod `name` has registered (holds its liveness lock).
pub(super) async fn registered(pool: &PgPool, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("select exists (select 1 from job_workers where worker like $1)")
        .bind(format!("{name}-%"))
        .fetch_one(pool)
        .await
        .expect("job_workers")
}

/// Whether every job of `jobs` is running, claimed by a worker of pod `name`, past step
/// `step` (its checkpoint stored).
pub(super) async fn all_held(pool: &PgPool, jobs: &[JobId], name: &str, step: &str) -> bool {
    let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
    let held: i64 = sqlx::query_scalar(
        "select count(*) from jobs j
         where j.id = any($1) and j.state = 'running' and j.lease_owner like $2
           and exists (select 1 from job_steps s where s.job_id = j.id and s.name = $3)",
    )
    .bind(&ids)
    .bind(format!("{name}-%"))
    .bind(step)
    .fetch_one(pool)
    .await
    .expect("held jobs");
    usize::try_from(held).expect("a count") == jobs.len()
}

/// Starts worker pod `name` and waits until it has registered; its probes and metrics
/// then answer on its port (a port of its own: pods here share the host's network, where
/// a cluster gives each pod its own address).
pub(super) async fn start_worker(lab: &Lab, container: &Container, name: &str) -> Pod {
    let port = free_port();
    let mut container = container.clone();
    container.edit_config("antidote.yaml", |c| {
        c["httpPort"] = serde_json::json!(port);
        c["gateway"] = serde_json::json!({"address": "127.0.0.1", "port": 0});
    });
    let mut pod = Pod::start(name, &container, &lab.plane, &lab.admin).await;
    wait_until(
        &format!("worker {name} registered"),
        Duration::from_secs(60),
        &mut [&mut pod],
        async || registered(&lab.pool, name).await,
    )
    .await;
    pod.assert_arranged(&container);
    let probe = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let answer = http.get(probe(path)).send().await.expect(path);
        assert_eq!(answer.status(), 200, "{name} {path}");
    }
    let metrics = http.get(probe("/metrics")).send().await.expect("/metrics");
    assert_eq!(metrics.status(), 200, "{name} /metrics");
    let metrics = metrics.text().await.expect("metrics text");
    assert!(
        !metrics.contains("antidote_livelessons{"),
        "{name}: this process's series, not the API's database-wide gauges: {metrics}"
    );
    pod
}

/// The objects of livelesson `id` of `lesson` on the API server against those the
/// backend builds for it at stage 0: every kind it creates, the same names, none missing
/// and none extra; each configuration Job ran exactly one pod, which succeeded. Returns
/// how many objects were compared.
pub(super) async fn assert_objects(
    lab: &Lab,
    curriculum: &Curriculum,
    lesson: &str,
    id: &str,
    session: &str,
) -> usize {
    let lesson = curriculum
        .lessons
        .iter()
        .find(|l| l.slug == lesson)
        .expect("the lesson");
    let images = curriculum.images_of(lesson);
    let (id, session) = (LivelessonId::from(id), SessionId::from(session));
    let view = Livelesson {
        id: &id,
        session_id: &session,
        lesson,
        images: &images,
    };
    let stage0_jobs: BTreeSet<String> = lesson
        .endpoints
        .iter()
        .filter(|e| e.configuration_type.is_some())
        .map(|e| names::config_job_name(&e.name, 0))
        .collect();
    let namespace = lab.settings.namespace(&id);
    let kinds = [
        ApiResource::erase::<ResourceQuota>(&()),
        ApiResource::erase::<LimitRange>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        nad_api_resource(),
        ApiResource::erase::<KubePod>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Ingress>(&()),
        ApiResource::erase::<Job>(&()),
    ];
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in livelesson_objects(&lab.settings, &view, &lab.secrets).expect("objects") {
        let json = object.to_json().expect("JSON");
        let name = text(&json, "/metadata/name").to_owned();
        match object {
            Object::Namespace(_) => continue,
            Object::Job(_) if !stage0_jobs.contains(&name) => continue,
            _ => {}
        }
        expected
            .entry(object.api_resource().kind)
            .or_default()
            .insert(name);
    }
    let mut compared = 0;
    for resource in kinds {
        let api: Api<DynamicObject> =
            Api::namespaced_with(lab.admin.clone(), &namespace, &resource);
        let found: BTreeSet<String> = api
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("{} in {namespace}: {e}", resource.plural))
            .items
            .into_iter()
            // The configuration Jobs' pods are the job controller's, counted below.
            .filter(|o| {
                !o.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.kind == "Job")
            })
            .filter_map(|o| o.metadata.name)
            .collect();
        let want = expected.remove(&resource.kind).unwrap_or_default();
        assert_eq!(
            found,
            want,
            "{lesson} {id}: {}s in {namespace}",
            resource.kind,
            lesson = lesson.slug
        );
        compared += found.len();
    }
    assert!(expected.is_empty(), "kinds not compared: {expected:?}");
    assert!(compared > 0, "{} {id}: no object", lesson.slug);
    let pods: Api<KubePod> = Api::namespaced(lab.admin.clone(), &namespace);
    let jobs: Api<Job> = Api::namespaced(lab.admin.clone(), &namespace);
    for job in &stage0_jobs {
        let ran = pods
            .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
            .await
            .expect("pods listed")
            .items
            .len();
        let succeeded = jobs
            .get(job)
            .await
            .expect("job")
            .status
            .and_then(|s| s.succeeded);
        assert_eq!(
            (ran, succeeded),
            (1, Some(1)),
            "{} {id}: Job {job} ran one pod, once",
            lesson.slug
        );
    }
    compared
}

#[sqlx::test]
pub(super) async fn real_control_plane_install_rolling_restart_of_worker_pods_loses_nothing(
    pool: PgPool,
) {
    let test = "real_control_plane_install_rolling_restart_of_worker_pods";
    let started = Instant::now();
    let Some(tools) = tools(test) else { return };
    if !crate::incluster::can_run_pods(test) {
        return;
    }
    // The chart's split roles: `antidoted api` (no token) and `antidoted worker`.
    let values = [
        "--set",
        "serve.enabled=false",
        "--set",
        "api.enabled=true",
        "--set",
        "worker.enabled=true",
    ];
    let Some((mut lab, render)) = install_chart(pool, test, &tools, &values).await else {
        return;
    };
    let (api_container, port) =
        container(&lab, &render, "Deployment", &format!("{RELEASE}-api")).await;
    assert_eq!(api_container.args[0], "api");
    assert!(
        api_container.service_account.is_none(),
        "the API's pods mount no token"
    );
    let mut api = Pod::start(
        &format!("{RELEASE}-api-0"),
        &api_container,
        &lab.plane,
        &lab.admin,
    )
    .await;
    let exp = Exp::new(port);
    exp.wait_ready(&mut api).await;
    api.assert_arranged(&api_container);
    let (worker, _) = container(&lab, &render, "Deployment", &format!("{RELEASE}-worker")).await;
    assert_eq!(
        worker.args,
        ["worker", "--config", "/etc/antidote/antidote.yaml"]
    );
    assert_eq!(worker.service_account.as_deref(), Some(SCHEDULER_ACCOUNT));
    let pod_name = |n: &str| format!("{RELEASE}-worker-{n}");

    // Until the node agent comes, no pod is scheduled: every CREATE waits at
    // `pods-ready`, its namespace, secrets, files, networks, pods and services made and
    // checkpointed. That hold is what makes "mid-provisioning" certain at each SIGTERM.
    let mut a = start_worker(&lab, &worker, &pod_name("a1")).await;
    let sessions = [exp.session().await, exp.session().await];
    let mut ids = Vec::new();
    for (session, lessons) in sessions.iter().zip([
        &LESSONS[..],
        &["router-configuration", "linux-first-steps"][..],
    ]) {
        for lesson in lessons {
            ids.push((*lesson, exp.request(session, lesson).await));
        }
    }
    let mut creates = Vec::new();
    for (_, id) in &ids {
        creates.push(lab.job(CREATE, id).await);
    }
    wait_until(
        "worker a1 holds every CREATE at pods-ready",
        Duration::from_secs(60),
        &mut [&mut api, &mut a],
        async || all_held(&lab.pool, &creates, &pod_name("a1"), "status:BOOTING").await,
    )
    .await;
    // The Deployment's two replicas.
    let mut b = start_worker(&lab, &worker, &pod_name("b1")).await;

    // The rollout, one pod at a time: SIGTERM, exit 0 within the grace period, then the
    // replacement. Each stopped worker holds every CREATE and hands them all back; the
    // other replica, alone to claim them, takes them before the replacement starts.
    let took_a = a.stop().await;
    wait_until(
        "worker b1 took every CREATE over",
        Duration::from_secs(60),
        &mut [&mut api, &mut b],
        async || all_held(&lab.pool, &creates, &pod_name("b1"), "status:BOOTING").await,
    )
    .await;
    let mut a2 = start_worker(&lab, &worker, &pod_name("a2")).await;
    let took_b = b.stop().await;
    wait_until(
        "worker a2 took every CREATE over",
        Duration::from_secs(60),
        &mut [&mut api, &mut a2],
        async || all_held(&lab.pool, &creates, &pod_name("a2"), "status:BOOTING").await,
    )
    .await;
    let mut b2 = start_worker(&lab, &worker, &pod_name("b2")).await;

    // The node: pods run, and provisioning goes on where it stopped.
    lab.start_agent().await;
    wait_all_ready(
        &exp,
        &lab,
        &ids,
        &mut [&mut api, &mut a2, &mut b2],
        Duration::from_secs(180),
    )
    .await;
    let ready_at = started.elapsed();

    // Every CREATE: claimed by a1, b1, then a2; handed back twice; every step before
    // `pods-ready` done once, `pods-ready` three times, the rest once; completed by a2;
    // never failed, retried or rescued.
    for ((lesson, id), job) in ids.iter().zip(&creates) {
        let events: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "select kind, worker, step from job_events where job_id = $1 order by at, id",
        )
        .bind(job.0)
        .fetch_all(&lab.pool)
        .await
        .expect("events");
        let trail = crate::helpers::trail(&lab.pool, *job).await;
        let claims: Vec<String> = events
            .iter()
            .filter(|(kind, _, _)| kind == "claimed")
            .map(|(_, worker, _)| {
                let worker = worker.clone().unwrap_or_default();
                ["a1", "b1", "a2", "b2"]
                    .into_iter()
                    .find(|n| worker.starts_with(&format!("{}-", pod_name(n))))
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect();
        assert_eq!(claims, ["a1", "b1", "a2"], "{lesson} {id}: claims; {trail}");
        let count = |kind: &str| events.iter().filter(|(k, _, _)| k == kind).count();
        assert_eq!(count("handed_back"), 2, "{lesson} {id}: {trail}");
        assert_eq!(count("completed"), 1, "{lesson} {id}: {trail}");
        for bad in ["failed", "retry_scheduled", "rescued", "cancelled"] {
            assert_eq!(count(bad), 0, "{lesson} {id}: {bad}; {trail}");
        }
        let mut starts: BTreeMap<&str, usize> = BTreeMap::new();
        for (kind, _, step) in &events {
            if kind == "step_started"
                && let Some(step) = step
            {
                *starts.entry(step).or_default() += 1;
            }
        }
        assert_eq!(starts.get("pods-ready"), Some(&3), "{lesson} {id}: {trail}");
        for step in [
            "namespace",
            "status:BOOTING",
            "reachability",
            "status:READY",
        ] {
            assert!(
                starts.contains_key(step),
                "{lesson} {id}: {step} ran; {trail}"
            );
        }
        for (step, n) in &starts {
            let want = if *step == "pods-ready" { 3 } else { 1 };
            assert_eq!(
                *n, want,
                "{lesson} {id}: step {step} started {n} times; {trail}"
            );
        }
    }

    // The cluster holds exactly what the livelessons should have: one namespace each,
    // every object of each, none twice, nothing else.
    let namespaces: BTreeSet<String> = Api::<Namespace>::all(lab.admin.clone())
        .list(&ListParams::default().labels("antidoteId=test"))
        .await
        .expect("namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let want: BTreeSet<String> = ids
        .iter()
        .map(|(_, id)| lab.settings.namespace(&LivelessonId::from(id.as_str())))
        .collect();
    assert_eq!(namespaces, want, "one namespace per livelesson");
    let loaded = curriculum::load(&root().join("example-curriculum"), &Options::default());
    let curriculum = loaded.valid().expect("the example curriculum");
    let mut objects = 0;
    for (i, (lesson, id)) in ids.iter().enumerate() {
        let session = &sessions[usize::from(i >= LESSONS.len())];
        objects += assert_objects(&lab, curriculum, lesson, id, session).await;
    }

    let took = [a2.stop().await, b2.stop().await, api.stop().await];
    assert_jobs_finished(&lab.pool).await;
    let requests = assert_no_forbidden(&lab, &[&a, &b, &a2, &b2, &api]).await;
    eprintln!(
        "rolling restart: {} livelessons, each CREATE handed back by a1 (SIGTERM to exit \
         {took_a:?}) and b1 ({took_b:?}), READY at {ready_at:?} under a2 with {objects} \
         objects as built; {requests} requests of the chart's ServiceAccount audited, none \
         Forbidden; a2, b2, api stopped in {took:?}",
        ids.len()
    );
}
