//! Workload tests: pods with real loopback listeners, service proxying, jobs, pod logs,
//! every knob, request accounting and teardown.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::{Client, ResourceExt};
use kubesim::{Behaviour, Config, InjectedError, KubeSim, Latency};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> (KubeSim, Client) {
    let sim = KubeSim::start(Config::default()).await.unwrap();
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    (sim, client)
}

fn obj<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).unwrap()
}

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "callers pass `json!` literals"
)]
fn pod(name: &str, image: &str, ports: Value) -> Pod {
    obj(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": image, "ports": ports}]}
    }))
}

async fn wait_pod(pods: &Api<Pod>, name: &str, what: &str, pred: impl Fn(&Pod) -> bool) -> Pod {
    eventually(what, || async {
        pods.get_opt(name).await.unwrap().filter(|p| pred(p))
    })
    .await
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_ip(p: &Pod) -> Ipv4Addr {
    p.status
        .as_ref()
        .unwrap()
        .pod_ip
        .as_ref()
        .unwrap()
        .parse()
        .unwrap()
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status.as_ref()?.container_statuses.as_ref()?[0]
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

async fn ssh_banner(ip: Ipv4Addr, port: u16) -> String {
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn http_status(ip: Ipv4Addr, port: u16) -> String {
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn in_sim_range(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 127 && o[1] != 0 && ip != Ipv4Addr::LOCALHOST
}

#[tokio::test]
async fn pods_run_with_real_listeners_and_services_proxy() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let ports = json!([{"containerPort": 22}, {"containerPort": 8080}, {"containerPort": 5000}, {"containerPort": 9000, "name": "http-alt"}]);
    let p = pods
        .create(&PostParams::default(), &pod("vm", "vqfx:1", ports))
        .await
        .unwrap();
    assert_eq!(phase(&p), "Pending");
    let p = wait_pod(&pods, "vm", "vm running", |p| {
        phase(p) == "Running" && ready(p)
    })
    .await;
    assert_eq!(
        p.spec.as_ref().unwrap().node_name.as_deref(),
        Some("kubesim-node")
    );
    let ip = pod_ip(&p);
    assert!(in_sim_range(ip), "{ip}");
    let host_ip: Ipv4Addr = p
        .status
        .as_ref()
        .unwrap()
        .host_ip
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(in_sim_range(host_ip));
    let cs = &p
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert!(cs.ready && cs.state.as_ref().unwrap().running.is_some());
    assert_eq!(ssh_banner(ip, 22).await, "SSH-2.0-kubesim\r\n");
    assert_eq!(http_status(ip, 8080).await, "HTTP/1.1 200 OK");
    assert_eq!(http_status(ip, 9000).await, "HTTP/1.1 200 OK");
    TcpStream::connect((ip, 5000)).await.unwrap();

    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let svc = svcs
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "vm"}, "spec": {"selector": {"app": "vm"}, "ports": [
                {"name": "ssh", "port": 2222, "targetPort": 22}, {"name": "web", "port": 80, "targetPort": 8080}]}})),
        )
        .await
        .unwrap();
    let cip: Ipv4Addr = svc
        .spec
        .as_ref()
        .unwrap()
        .cluster_ip
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(in_sim_range(cip) && cip != ip, "{cip}");
    assert_eq!(ssh_banner(cip, 2222).await, "SSH-2.0-kubesim\r\n");
    assert_eq!(http_status(cip, 80).await, "HTTP/1.1 200 OK");

    // A service without ready backends closes connections at once.
    let empty = svcs
        .create(&PostParams::default(), &obj(json!({"metadata": {"name": "empty"}, "spec": {"selector": {"app": "none"}, "ports": [{"port": 22}]}})))
        .await
        .unwrap();
    let eip: Ipv4Addr = empty.spec.unwrap().cluster_ip.unwrap().parse().unwrap();
    let mut s = TcpStream::connect((eip, 22)).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);

    // Deleting the pod releases its listeners.
    pods.delete("vm", &DeleteParams::default()).await.unwrap();
    eventually("pod listeners released", || async {
        TcpStream::connect((ip, 22)).await.is_err().then_some(())
    })
    .await;
    sim.shutdown().await;
    assert!(TcpStream::connect((cip, 2222)).await.is_err());
}

#[tokio::test]
async fn init_containers_run_first_and_logs_are_served() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p: Pod = obj(json!({"metadata": {"name": "withinit"}, "spec": {
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 22}]}, {"name": "b", "image": "y"}]}}));
    pods.create(&PostParams::default(), &p).await.unwrap();
    let p = wait_pod(&pods, "withinit", "running", |p| phase(p) == "Running").await;
    let init = &p
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        0
    );
    let lp = LogParams {
        container: Some("a".into()),
        ..LogParams::default()
    };
    let log = pods.logs("withinit", &lp).await.unwrap();
    assert!(log.contains("listening on"), "{log}");
    let init_log = pods
        .logs(
            "withinit",
            &LogParams {
                container: Some("init".into()),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert!(init_log.lines().count() >= 2);
    let tail = pods
        .logs(
            "withinit",
            &LogParams {
                container: Some("init".into()),
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail.lines().count(), 1);
    // Several containers and no `container` parameter is a 400, like upstream.
    assert!(pods.logs("withinit", &LogParams::default()).await.is_err());
    sim.shutdown().await;
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "callers pass `json!` literals"
)]
fn job(name: &str, backoff: i32, env: Value) -> Job {
    obj(
        json!({"metadata": {"name": name}, "spec": {"backoffLimit": backoff, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "cfg", "image": "antidotelabs/configurator", "env": env}]}}}}),
    )
}

fn job_done(j: &Job) -> Option<String> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.clone())
}

async fn wait_job(jobs: &Api<Job>, name: &str) -> Job {
    eventually("job finished", || async {
        jobs.get(name).await.ok().filter(|j| job_done(j).is_some())
    })
    .await
}

#[tokio::test]
async fn jobs_succeed_and_fail_by_backoff_limit() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    // A target that listens: a pod with port 22, addressed through its service name.
    pods.create(
        &PostParams::default(),
        &pod("target", "vqfx", json!([{"containerPort": 22}])),
    )
    .await
    .unwrap();
    wait_pod(&pods, "target", "target ready", ready).await;
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    svcs.create(&PostParams::default(), &obj(json!({"metadata": {"name": "target"}, "spec": {"selector": {"app": "target"}, "ports": [{"port": 22}]}})))
        .await
        .unwrap();

    jobs.create(
        &PostParams::default(),
        &job(
            "ok",
            6,
            json!([{"name": "ANTIDOTE_TARGET_HOST", "value": "target"}]),
        ),
    )
    .await
    .unwrap();
    let j = wait_job(&jobs, "ok").await;
    assert_eq!(job_done(&j).as_deref(), Some("Complete"));
    let st = j.status.as_ref().unwrap();
    assert_eq!((st.succeeded, st.failed), (Some(1), None));
    assert!(st.start_time.is_some() && st.completion_time.is_some());
    let jp = pods
        .list(&ListParams::default().labels("job-name=ok"))
        .await
        .unwrap()
        .items;
    assert_eq!(jp.len(), 1);
    assert_eq!(phase(&jp[0]), "Succeeded");
    let labels = jp[0].labels();
    assert_eq!(
        labels
            .get("batch.kubernetes.io/job-name")
            .map(String::as_str),
        Some("ok")
    );
    assert_eq!(labels.get("controller-uid"), j.uid().as_ref());
    assert_eq!(jp[0].owner_references()[0].kind, "Job");
    let t = jp[0]
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(t.exit_code, 0);

    // Nothing listens on port 1 of the target pod's address.
    let ip = pod_ip(&pods.get("target").await.unwrap()).to_string();
    let env = json!([{"name": "ANTIDOTE_TARGET_HOST", "value": ip}, {"name": "ANTIDOTE_TARGET_PORT", "value": "1"}]);
    jobs.create(&PostParams::default(), &job("bad", 1, env))
        .await
        .unwrap();
    let j = wait_job(&jobs, "bad").await;
    assert_eq!(job_done(&j).as_deref(), Some("Failed"));
    let c = j
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .clone();
    assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(j.status.as_ref().unwrap().failed, Some(2));
    let failed = pods
        .list(&ListParams::default().labels("job-name=bad"))
        .await
        .unwrap()
        .items;
    assert_eq!(failed.len(), 2);
    let log = pods
        .logs(&failed[0].name_any(), &LogParams::default())
        .await
        .unwrap();
    assert!(log.contains("unreachable"), "{log}");
    let t = failed[0]
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(t.exit_code, 1);

    // Background propagation removes the pods; the default (Orphan) keeps them.
    jobs.delete("bad", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        pods.list(&ListParams::default().labels("job-name=bad"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    jobs.delete("ok", &DeleteParams::default()).await.unwrap();
    let orphans = pods
        .list(&ListParams::default().labels("job-name=ok"))
        .await
        .unwrap()
        .items;
    assert_eq!(orphans.len(), 1);
    assert!(orphans[0].owner_references().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn knob_pull_failure_crash_loop_init_failure() {
    let (sim, client) = start().await;
    sim.knobs()
        .set_image_behaviour("broken*", Behaviour::PullFailure);
    sim.knobs()
        .set_pod_behaviour("crashy", Behaviour::CrashLoop);
    sim.knobs()
        .set_pod_behaviour("badinit", Behaviour::InitFailure { exit_code: 3 });
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod("pull", "broken/image:1", json!([])),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &pod("crashy", "x", json!([])))
        .await
        .unwrap();
    let p: Pod = obj(
        json!({"metadata": {"name": "badinit"}, "spec": {"restartPolicy": "Never",
        "initContainers": [{"name": "init", "image": "busybox"}], "containers": [{"name": "c", "image": "x"}]}}),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();

    wait_pod(&pods, "pull", "ErrImagePull", |p| {
        waiting_reason(p).as_deref() == Some("ErrImagePull")
    })
    .await;
    let p = wait_pod(&pods, "pull", "ImagePullBackOff", |p| {
        waiting_reason(p).as_deref() == Some("ImagePullBackOff")
    })
    .await;
    assert_eq!(phase(&p), "Pending");

    let p = wait_pod(&pods, "crashy", "crash loop", |p| {
        waiting_reason(p).as_deref() == Some("CrashLoopBackOff")
            && p.status
                .as_ref()
                .unwrap()
                .container_statuses
                .as_ref()
                .unwrap()[0]
                .restart_count
                >= 2
    })
    .await;
    assert!(!ready(&p));
    assert!(
        pods.logs("crashy", &LogParams::default())
            .await
            .unwrap()
            .contains("simulated crash")
    );

    let p = wait_pod(&pods, "badinit", "init failure", |p| phase(p) == "Failed").await;
    let init = &p
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        3
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn knob_slow_start_port_never_listens_and_job_fails_n_times() {
    let (sim, client) = start().await;
    sim.knobs()
        .set_pod_behaviour("slow", Behaviour::SlowStart(Duration::from_millis(600)));
    sim.knobs()
        .set_pod_behaviour("deaf", Behaviour::PortNeverListens(22));
    sim.knobs()
        .set_pod_behaviour("flaky-*", Behaviour::JobFails(2));
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let t0 = Instant::now();
    pods.create(&PostParams::default(), &pod("slow", "x", json!([])))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod(
            "deaf",
            "x",
            json!([{"containerPort": 22}, {"containerPort": 80}]),
        ),
    )
    .await
    .unwrap();
    wait_pod(&pods, "slow", "slow running", |p| phase(p) == "Running").await;
    assert!(t0.elapsed() >= Duration::from_millis(600));
    let p = wait_pod(&pods, "deaf", "deaf running", ready).await;
    let ip = pod_ip(&p);
    assert!(TcpStream::connect((ip, 22)).await.is_err());
    assert_eq!(http_status(ip, 80).await, "HTTP/1.1 200 OK");

    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job("flaky", 6, json!([])))
        .await
        .unwrap();
    let j = wait_job(&jobs, "flaky").await;
    assert_eq!(job_done(&j).as_deref(), Some("Complete"));
    let st = j.status.unwrap();
    assert_eq!((st.failed, st.succeeded), (Some(2), Some(1)));
    sim.shutdown().await;
}

#[tokio::test]
async fn knob_latency_error_rates_and_request_accounting() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    sim.knobs()
        .set_latency(Latency::Fixed(Duration::from_millis(150)));
    let t0 = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150));
    sim.knobs().set_latency(Latency::Range(
        Duration::from_millis(1),
        Duration::from_millis(5),
    ));
    cms.list(&ListParams::default()).await.unwrap();
    sim.knobs().set_latency(Latency::None);

    sim.knobs()
        .set_error_rate(Some("create"), 1.0, InjectedError::Internal);
    match cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "a"}})),
        )
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (500, "InternalError")),
        e => panic!("{e:?}"),
    }
    cms.list(&ListParams::default()).await.unwrap();
    sim.knobs().clear_error_rates();
    sim.knobs().set_error_rate(
        None,
        1.0,
        InjectedError::TooManyRequests { retry_after_s: 7 },
    );
    let mut cfg = kube::Config::new(sim.url().parse().unwrap());
    cfg.default_retry = false;
    let no_retry: Api<ConfigMap> = Api::default_namespaced(Client::try_from(cfg).unwrap());
    match no_retry.get("a").await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests")),
        e => panic!("{e:?}"),
    }
    sim.knobs().clear_error_rates();
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "a"}})),
    )
    .await
    .unwrap();

    let stats = sim.requests();
    assert_eq!(stats.count("create", "configmaps"), 2);
    assert_eq!(stats.count("list", "configmaps"), 3);
    assert_eq!(stats.count("get", "configmaps"), 1);
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("p", "x", json!([])))
        .await
        .unwrap();
    wait_pod(&pods, "p", "running", |p| phase(p) == "Running").await;
    let _ = pods.logs("p", &LogParams::default()).await.unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let _ = nss.get("default").await.unwrap();
    let seen = sim.requests().seen;
    for (v, g, r) in [
        ("create", "", "configmaps"),
        ("get", "", "pods"),
        ("get", "", "pods/log"),
        ("get", "", "namespaces"),
        ("create", "", "pods"),
    ] {
        assert!(
            seen.contains(&(v.to_string(), g.to_string(), r.to_string())),
            "{v} {r}: {seen:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn knob_unreachable_refuses_then_restores() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.list(&ListParams::default()).await.unwrap();
    sim.knobs().set_unreachable(true).await;
    assert!(
        TcpStream::connect(sim.addr()).await.is_err(),
        "connections are refused"
    );
    match cms.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => panic!("expected a transport error, got status {s:?}"),
        Err(_) => {}
        Ok(_) => panic!("API should be unreachable"),
    }
    sim.knobs().set_unreachable(false).await;
    eventually("API back", || async {
        cms.list(&ListParams::default()).await.ok()
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn config_pod_without_listening_target_fails_and_addresses_stay_in_range() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for i in 0..20 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("p{i}"), "x", json!([{"containerPort": 22}])),
        )
        .await
        .unwrap();
    }
    let p: Pod = obj(
        json!({"metadata": {"name": "cfg"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "cfg",
        "env": [{"name": "ANTIDOTE_TARGET_HOST", "value": "does-not-exist"}]}]}}),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();
    let p = wait_pod(&pods, "cfg", "cfg failed", |p| phase(p) == "Failed").await;
    assert!(
        pods.logs("cfg", &LogParams::default())
            .await
            .unwrap()
            .contains("could not resolve")
    );
    let _ = p;
    let mut ips = std::collections::HashSet::new();
    for i in 0..20 {
        let p = wait_pod(&pods, &format!("p{i}"), "running", ready).await;
        let ip = pod_ip(&p);
        assert!(in_sim_range(ip), "{ip}");
        assert!(ips.insert(ip), "duplicate {ip}");
    }
    assert!(sim.listener_count() >= 20);
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_a_namespace_releases_every_listener() {
    let (sim, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "lab"}})),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "lab");
    let svcs: Api<Service> = Api::namespaced(client.clone(), "lab");
    for i in 0..5 {
        pods.create(
            &PostParams::default(),
            &pod(
                &format!("n{i}"),
                "x",
                json!([{"containerPort": 22}, {"containerPort": 80}]),
            ),
        )
        .await
        .unwrap();
        svcs.create(&PostParams::default(), &obj(json!({"metadata": {"name": format!("n{i}")}, "spec": {"selector": {"app": format!("n{i}")}, "ports": [{"port": 22}]}})))
            .await
            .unwrap();
    }
    for i in 0..5 {
        wait_pod(&pods, &format!("n{i}"), "ready", ready).await;
    }
    assert_eq!(sim.listener_count(), 15);
    nss.delete("lab", &DeleteParams::default()).await.unwrap();
    eventually("listeners released", || async {
        (sim.listener_count() == 0).then_some(())
    })
    .await;
    sim.shutdown().await;
}
