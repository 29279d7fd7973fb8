//! Livelesson lifecycle tests: the real workflows, a real PostgreSQL, and kubesim through
//! the production kube-rs client.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod bench;
mod chaos;
mod child;
mod faults;
mod helpers;
mod http;
mod pools;
mod presentations;

use std::collections::BTreeMap;
use std::time::Duration;

use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::queue::WorkerEvent;
use antidote_scheduler::queue::inspect as jobs;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::{CREATE, DELETE, MODIFY, request};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::ListParams;
use kube::core::DynamicObject;
use kubesim::{Behaviour, InjectedError};
use sqlx::PgPool;

use helpers::{ChildWorker, Lab, database_url, finished, start, worker_config};

pub(crate) const LESSONS: [&str; 4] = [
    "linux-first-steps",
    "router-configuration",
    "web-automation",
    "notebook-automation",
];

async fn provision_all(lab: &Lab, within: Duration) -> Vec<(String, LivelessonId)> {
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let session = lab.session().await;
    let mut created = Vec::new();
    for lesson in LESSONS {
        let ll = lab.request(&session, lesson, 0).await;
        assert_eq!(ll.status, Status::Initialized);
        created.push((lesson.to_owned(), ll.id));
    }
    let mut jobs = Vec::new();
    for (_, id) in &created {
        jobs.push(lab.job(CREATE, id).await);
    }
    let outcomes = helpers::all_finished(&mut events, &jobs, within).await;
    for ((lesson, id), job) in created.iter().zip(&jobs) {
        let Some(outcome) = outcomes.get(job) else {
            panic!(
                "{lesson} did not finish: {}",
                helpers::trail(&lab.pool, *job).await
            );
        };
        let ll = lab.livelesson(id).await.expect("livelesson");
        assert_eq!(
            *outcome,
            WorkerEvent::Completed(*job),
            "{lesson}: {:?}",
            ll.error
        );
        assert_eq!(ll.status, Status::Ready, "{lesson}");
        assert_eq!(ll.healthy_tests, ll.total_tests, "{lesson}");
        assert!(
            ll.endpoints
                .iter()
                .all(|e| e.host.as_deref().is_some_and(|h| h.starts_with("127.")))
        );
    }
    let _ = stop.send(());
    handle.await.expect("worker");
    created
}

#[sqlx::test]
async fn every_example_lesson_reaches_ready_with_the_objects_it_needs(pool: PgPool) {
    let lab = Lab::start(pool).await;
    let created = provision_all(&lab, Duration::from_secs(60)).await;
    let ids: BTreeMap<String, LivelessonId> = created.into_iter().collect();

    // web-automation: python and ansible jobs, an http presentation, forwarding, legacy.
    let web = &ids["web-automation"];
    let ns = format!("test-{web}");
    let namespace = Api::<Namespace>::all(lab.kube.clone())
        .get(&ns)
        .await
        .expect("namespace");
    let labels = namespace.metadata.labels.expect("labels");
    for (key, value) in [
        ("antidoteManaged", "yes"),
        ("antidoteId", "test"),
        ("liveLesson", web.as_str()),
        ("lessonSlug", "web-automation"),
        ("app.kubernetes.io/managed-by", "antidote-scheduler"),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
    }
    let pods: Api<Pod> = Api::namespaced(lab.kube.clone(), &ns);
    let router = pods.get("router").await.expect("router pod");
    let spec = router.spec.expect("spec");
    assert_eq!(
        spec.runtime_class_name.as_deref(),
        Some("kata"),
        "untrusted runs on kata"
    );
    let sysctls: Vec<(String, String)> = spec
        .security_context
        .and_then(|s| s.sysctls)
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name, s.value))
        .collect();
    assert!(sysctls.contains(&("net.ipv4.ip_forward".into(), "1".into())));
    let networks =
        router.metadata.annotations.expect("annotations")["k8s.v1.cni.cncf.io/networks"].clone();
    let networks: serde_json::Value = serde_json::from_str(&networks).expect("json");
    assert_eq!(networks[0]["name"], "router-linux1-net");
    assert_eq!(networks[0]["interface"], "net1");
    let web_pod = pods.get("web").await.expect("web pod");
    let security = web_pod.spec.expect("spec").containers[0]
        .security_context
        .clone()
        .expect("security");
    assert_eq!(security.privileged, Some(false), "legacy is unprivileged");
    assert!(
        security
            .capabilities
            .and_then(|c| c.add)
            .unwrap_or_default()
            .contains(&"NET_ADMIN".to_string())
    );
    let ingress = Api::<Ingress>::namespaced(lab.kube.clone(), &ns)
        .get("web-site")
        .await
        .expect("ingress");
    let spec = ingress.spec.expect("spec");
    let host = format!("{ns}-web-site.localhost");
    assert_eq!(
        spec.rules.expect("rules")[0].host.as_deref(),
        Some(host.as_str())
    );
    let tls = spec.tls.expect("tls");
    assert_eq!(tls[0].secret_name.as_deref(), Some("tls-certificate"));
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let jobs: Api<Job> = Api::namespaced(lab.kube.clone(), &ns);
    let python = jobs.get("config-linux1-0").await.expect("python job");
    let container = python
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers[0]
        .clone();
    let command = [
        container.command.unwrap_or_default(),
        container.args.unwrap_or_default(),
    ]
    .concat()
    .join(" ");
    assert!(
        command.contains("python /antidote/stage0/configs/linux1.py"),
        "{command}"
    );
    let env: BTreeMap<String, String> = container
        .env
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    let linux1_host = lab
        .livelesson(web)
        .await
        .expect("ll")
        .endpoints
        .iter()
        .find(|e| e.name == "linux1")
        .and_then(|e| e.host.clone());
    assert_eq!(env.get("ANTIDOTE_TARGET_HOST"), linux1_host.as_ref());
    assert!(
        !serde_json::to_string(&jobs.get("config-router-0").await.expect("ansible job"))
            .expect("json")
            .contains("antidotepassword"),
        "no password in the job spec"
    );

    // router-configuration: NADs on the lesson's subnet, trusted switches, napalm drivers.
    let router_ns = format!("test-{}", ids["router-configuration"]);
    let nads: Api<DynamicObject> = Api::namespaced_with(
        lab.kube.clone(),
        &router_ns,
        &antidote_scheduler::backend::kubernetes::resources::nad_api_resource(),
    );
    let nad = nads.get("vqfx-1-vqfx-2-net").await.expect("nad");
    let config: serde_json::Value =
        serde_json::from_str(nad.data["spec"]["config"].as_str().expect("config"))
            .expect("cni json");
    assert_eq!(config["ipam"]["subnet"], "10.12.0.0/24");
    assert_eq!(config["type"], "bridge");
    assert!(config["bridge"].as_str().expect("bridge").len() <= 15);
    let switch = Api::<Pod>::namespaced(lab.kube.clone(), &router_ns)
        .get("vqfx-1")
        .await
        .expect("switch");
    let security = switch.spec.expect("spec").containers[0]
        .security_context
        .clone()
        .expect("security");
    assert_eq!(security.privileged, Some(true), "trusted is privileged");
    let napalm = Api::<Job>::namespaced(lab.kube.clone(), &router_ns)
        .get("config-vqfx-1-0")
        .await
        .expect("napalm job");
    let container = napalm
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers[0]
        .clone();
    let command = [
        container.command.unwrap_or_default(),
        container.args.unwrap_or_default(),
    ]
    .concat()
    .join(" ");
    assert!(
        command.contains("junos") && command.contains("/antidote/stage0/configs/vqfx-1-junos.txt"),
        "{command}"
    );

    // notebook-automation: the jupyter guide endpoint and its ingress.
    let notebook_ns = format!("test-{}", ids["notebook-automation"]);
    Api::<Service>::namespaced(lab.kube.clone(), &notebook_ns)
        .get("jupyterlabguide")
        .await
        .expect("jupyter service");
    Api::<Ingress>::namespaced(lab.kube.clone(), &notebook_ns)
        .get("jupyterlabguide-web")
        .await
        .expect("jupyter ingress");
    let notebook = lab
        .livelesson(&LivelessonId::from(ids["notebook-automation"].as_str()))
        .await
        .expect("ll");
    assert_eq!(
        notebook.guide_type,
        antidote_scheduler::curriculum::GuideType::Jupyter
    );
    assert_eq!(
        notebook.guide_domain,
        format!("{notebook_ns}-jupyterlabguide-web.localhost")
    );

    // No object was created twice: creates equal objects (no retries in a clean run).
    let requests = lab.sim.requests();
    // Endpoint pods through the API (configuration pods come from the job controller).
    let pods_total: usize = [1, 3, 4, 2].iter().sum::<usize>() + 1;
    assert_eq!(
        usize::try_from(requests.count("create", "pods")).expect("count"),
        pods_total,
        "{:?}",
        requests.counts
    );
    assert_eq!(requests.count("create", "jobs"), 2 + 2 + 1);
    assert_eq!(requests.count("create", "namespaces"), 4 + 1);
}

#[sqlx::test]
async fn a_stage_change_reconfigures_and_delete_leaves_nothing_behind(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let session = lab.session().await;
    let ll = lab.request(&session, "router-configuration", 0).await;
    let create = lab.job(CREATE, &ll.id).await;
    assert_eq!(
        finished(&mut events, create, Duration::from_secs(60)).await,
        WorkerEvent::Completed(create)
    );

    let changed = lab.request(&session, "router-configuration", 1).await;
    assert_eq!(changed.status, Status::Configuration);
    assert_eq!(changed.current_stage, 1);
    let modify = lab.job(MODIFY, &ll.id).await;
    assert_eq!(
        finished(&mut events, modify, Duration::from_secs(60)).await,
        WorkerEvent::Completed(modify)
    );
    let ready = lab.livelesson(&ll.id).await.expect("ll");
    assert_eq!(ready.status, Status::Ready);
    assert!(ready.guide_contents.contains("Routing") || !ready.guide_contents.is_empty());
    let ns = format!("test-{}", ll.id);
    let jobs: Vec<String> = Api::<Job>::namespaced(lab.kube.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("jobs")
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect();
    assert_eq!(
        jobs,
        ["config-vqfx-1-1", "config-vqfx-2-1"],
        "stage 0 jobs are gone"
    );
    let config_pods = Api::<Pod>::namespaced(lab.kube.clone(), &ns)
        .list(&ListParams::default().labels("configPod=yes"))
        .await
        .expect("pods");
    assert!(config_pods.iter().all(|p| {
        p.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get("stageId").map(String::as_str) == Some("1"))
    }));

    request::kill(&pool, &lab.queue, &ll.id)
        .await
        .expect("kill");
    let delete = lab.job(DELETE, &ll.id).await;
    assert_eq!(
        finished(&mut events, delete, Duration::from_secs(60)).await,
        WorkerEvent::Completed(delete)
    );
    let _ = stop.send(());
    handle.await.expect("worker");
    assert!(lab.livelesson(&ll.id).await.is_none(), "state is gone");
    assert!(
        Api::<Namespace>::all(lab.kube.clone())
            .get_opt(&ns)
            .await
            .expect("get")
            .is_none()
    );
    let left: Vec<String> = lab
        .sim
        .store()
        .contents_of(&ns)
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    assert!(left.is_empty(), "objects left in {ns}: {left:?}");
    let trail: i64 = sqlx::query_scalar("select count(*) from job_events e join jobs_all j on j.id = e.job_id where j.serial_key = $1")
        .bind(format!("livelesson:{}", ll.id))
        .fetch_one(&pool)
        .await
        .expect("trail");
    assert!(trail > 30, "the audit trail stays: {trail} events");
}

#[sqlx::test]
async fn each_failure_mode_ends_in_error_with_a_specific_reason(pool: PgPool) {
    struct Case {
        lesson: &'static str,
        pods: Option<&'static str>,
        images: Option<&'static str>,
        behaviour: Behaviour,
        step: &'static str,
        reason: &'static str,
    }
    let lab = Lab::start(pool.clone()).await;
    let knobs = lab.sim.knobs();
    // A lesson whose image is missing (its pinned images lack it): prepared before any
    // worker runs, so the CREATE cannot start before the image is gone.
    let session = lab.session().await;
    let missing = lab.request(&session, "linux-first-steps", 0).await;
    sqlx::query("update livelessons set images = images - 'utility' where id = $1")
        .bind(&missing.id)
        .execute(&pool)
        .await
        .expect("drop image");
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let job = lab.job(CREATE, &missing.id).await;
    assert_eq!(
        finished(&mut events, job, Duration::from_secs(20)).await,
        WorkerEvent::Failed(job)
    );
    let error = lab
        .livelesson(&missing.id)
        .await
        .expect("ll")
        .error
        .expect("error");
    assert_eq!(error.step.as_deref(), Some("images"));
    assert!(error.reason.contains("utility"), "{}", error.reason);

    let cases = [
        Case {
            lesson: "linux-first-steps",
            pods: None,
            images: Some("*utility*"),
            behaviour: Behaviour::PullFailure,
            step: "pods-ready",
            reason: "ErrImagePull",
        },
        Case {
            lesson: "linux-first-steps",
            pods: None,
            images: Some("*utility*"),
            behaviour: Behaviour::CrashLoop,
            step: "pods-ready",
            reason: "CrashLoopBackOff",
        },
        Case {
            lesson: "router-configuration",
            pods: Some("config-vqfx-2-*"),
            images: None,
            behaviour: Behaviour::JobFails(10),
            step: "config-wait:0",
            reason: "config-vqfx-2-0",
        },
        Case {
            lesson: "linux-first-steps",
            pods: None,
            images: Some("*utility*"),
            behaviour: Behaviour::PortNeverListens(22),
            step: "reachability",
            reason: "not reachable",
        },
    ];
    for Case {
        lesson,
        pods,
        images,
        behaviour,
        step,
        reason,
    } in cases
    {
        knobs.clear_behaviours();
        if let Some(glob) = pods {
            knobs.set_pod_behaviour(glob, behaviour.clone());
        }
        if let Some(glob) = images {
            knobs.set_image_behaviour(glob, behaviour);
        }
        let session = lab.session().await;
        let ll = lab.request(&session, lesson, 0).await;
        let job = lab.job(CREATE, &ll.id).await;
        let started = std::time::Instant::now();
        assert_eq!(
            finished(&mut events, job, Duration::from_secs(40)).await,
            WorkerEvent::Failed(job)
        );
        let failed = lab.livelesson(&ll.id).await.expect("ll");
        assert_eq!(failed.status, Status::Error);
        let error = failed.error.expect("error recorded");
        assert_eq!(error.step.as_deref(), Some(step), "{lesson}: {error:?}");
        assert!(error.reason.contains(reason), "{lesson}: {}", error.reason);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "failed fast: {:?}",
            started.elapsed()
        );
        // A crashing container and a failing job leave logs; an image that never pulled
        // has none to capture.
        if reason == "CrashLoopBackOff" || step.starts_with("config-wait") {
            assert!(
                error.logs.as_deref().is_some_and(|l| !l.is_empty()),
                "logs captured: {error:?}"
            );
        }
    }
    knobs.clear_behaviours();

    let _ = stop.send(());
    handle.await.expect("worker");
}

#[sqlx::test]
async fn every_example_lesson_reaches_ready_with_ten_percent_api_errors(pool: PgPool) {
    let lab = Lab::start(pool).await;
    lab.sim
        .knobs()
        .set_error_rate(None, 0.05, InjectedError::Internal);
    lab.sim.knobs().set_error_rate(
        None,
        0.05,
        InjectedError::TooManyRequests { retry_after_s: 0 },
    );
    provision_all(&lab, Duration::from_secs(120)).await;
    let requests = lab.sim.requests();
    assert!(requests.total() > 0);
}

#[path = "../support/steps.rs"]
mod steps;
use steps::ROUTER_CONFIGURATION_CREATE_STEPS as CREATE_STEPS;

#[sqlx::test]
async fn a_worker_killed_at_any_create_step_boundary_is_resumed_without_repeating_work(
    pool: PgPool,
) {
    let lab = Lab::start(pool.clone()).await;
    let url = database_url(&pool).await;
    let mut signal = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    signal.listen("test_signal").await.expect("listen");
    for crash_at in CREATE_STEPS {
        let session = lab.session().await;
        let before = lab.sim.requests();
        let ll = lab.request(&session, "router-configuration", 0).await;
        let job = lab.job(CREATE, &ll.id).await;
        let mut child = ChildWorker::spawn(&url, &lab.sim.url(), crash_at);
        let note = tokio::time::timeout(Duration::from_secs(60), signal.recv())
            .await
            .unwrap_or_else(|_| panic!("the child reached {crash_at} in time"))
            .expect("notification");
        assert_eq!(note.payload(), *crash_at);
        child.kill();

        let worker = lab.worker(worker_config());
        let mut events = worker.subscribe();
        let (stop, handle) = start(worker);
        assert_eq!(
            finished(&mut events, job, Duration::from_secs(60)).await,
            WorkerEvent::Completed(job),
            "after a crash at {crash_at}"
        );
        let _ = stop.send(());
        handle.await.expect("worker");
        assert_eq!(
            lab.livelesson(&ll.id).await.expect("ll").status,
            Status::Ready
        );

        // Steps completed before the crash were not started again.
        let trail = jobs::events(&pool, job).await.expect("events");
        let position = CREATE_STEPS
            .iter()
            .position(|s| s == crash_at)
            .expect("known step");
        for step in &CREATE_STEPS[..=position] {
            let starts = trail
                .iter()
                .filter(|e| e.kind == "step_started" && e.step.as_deref() == Some(*step))
                .count();
            assert_eq!(starts, 1, "{step} ran once around a crash at {crash_at}");
        }
        assert!(
            trail.iter().any(|e| e.kind == "rescued"),
            "the job was rescued after {crash_at}"
        );
        // No object was created twice: one create request per object.
        let after = lab.sim.requests();
        let created =
            |resource: &str| after.count("create", resource) - before.count("create", resource);
        assert_eq!(created("namespaces"), 1, "crash at {crash_at}");
        assert_eq!(created("pods"), 3, "crash at {crash_at}");
        assert_eq!(created("services"), 3, "crash at {crash_at}");
        assert_eq!(
            created("network-attachment-definitions"),
            2,
            "crash at {crash_at}"
        );
        assert_eq!(created("jobs"), 2, "crash at {crash_at}");
    }
}
