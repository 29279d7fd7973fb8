//! The scheduler as its pods run it: the chart installed with this test's database, a
//! pod's container resolved against the cluster, the `/exp` API the front end calls, and
//! the checks every run ends with (jobs finished, no Forbidden).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use antidote_scheduler::backend::Settings;
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::workflow::CREATE;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::database_url;
use crate::incluster::{Container, Pod};
use crate::lab::{self, Lab, SCHEDULER_ACCOUNT};

use super::apply::*;
use super::render::*;
use super::*;

/// A port nothing listens on right now.
pub(super) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The chart rendered with `values` as release `antidote-scheduler` in `antidote-system`
/// (deploy/'s names: the lab's scheduler identity is then the chart's ServiceAccount) and
/// installed after a strict dry run, as the chart's README installs it: the namespace
/// and the database Secret (holding this test's database) made first; then the lab on
/// that cluster.
pub(super) async fn install_chart(
    pool: PgPool,
    test: &str,
    tools: &Path,
    values: &[&str],
) -> Option<(Lab, Vec<Value>)> {
    let plane = lab::start_plane(test).await?;
    let admin = plane.admin_client().await;
    let render = helm_template(tools, RELEASE, NAMESPACE, values);
    create_release_namespace(&admin, NAMESPACE).await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "antidote-database"},
        "stringData": {"url": database_url(&pool).await},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(admin.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .expect("database secret created");
    let refused = Applier::new(admin).install(&render).await;
    assert!(refused.is_empty(), "chart refused:\n{}", refused.join("\n"));
    Some((Lab::on(pool, plane).await, render))
}

/// The test's changes to the chart's configuration file, and nothing else: a loopback
/// address and a port of the pod's own (every pod here shares the host's network
/// namespace), the lab's backend settings (instance `test`, failures within seconds, as
/// the in-process tests of this tier have them), and a 2 s shutdown grace.
pub(super) fn test_sized(config: &mut Value, port: u16, settings: &Settings) {
    assert_eq!(
        config["kubernetes"],
        json!({"inCluster": true}),
        "the chart configures in-cluster access, and no kubeconfig"
    );
    config["httpAddress"] = json!("127.0.0.1");
    config["httpPort"] = json!(port);
    config["gateway"] = json!({"address": "127.0.0.1", "port": 0});
    config["backend"] = serde_json::to_value(settings).expect("settings");
    config["worker"]["shutdownGraceSecs"] = json!(2);
}

/// The first container of `kind` `name` of the render, resolved against the cluster,
/// with the test's configuration.
pub(super) async fn container(
    lab: &Lab,
    render: &[Value],
    kind: &str,
    name: &str,
) -> (Container, u16) {
    let mut container =
        Container::resolve(&lab.admin, NAMESPACE, &template(render, kind, name)).await;
    let port = free_port();
    if container.config.is_some() {
        container.edit_config("antidote.yaml", |c| test_sized(c, port, &lab.settings));
    }
    (container, port)
}

/// Polls `check` until it holds, failing when `within` passes or a pod ends.
pub(super) async fn wait_until(
    what: &str,
    within: Duration,
    pods: &mut [&mut Pod],
    mut check: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        for pod in pods.iter_mut() {
            pod.assert_running();
        }
        if Instant::now() > deadline {
            let mut logs = String::new();
            for pod in pods.iter() {
                let _ = write!(logs, "\n--- pod {}:\n{}", pod.name, pod.log_tail(20));
            }
            panic!("{what}: not within {within:?}{logs}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `/exp` API of a serving pod, as the front end calls it.
pub(super) struct Exp {
    http: reqwest::Client,
    base: String,
}

impl Exp {
    pub(super) fn new(port: u16) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits for `/readyz` 200 (the database answers, every migration applied).
    pub(super) async fn wait_ready(&self, pod: &mut Pod) {
        let url = format!("{}/readyz", self.base);
        wait_until(
            "/readyz 200",
            Duration::from_secs(60),
            &mut [pod],
            async || {
                self.http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|a| a.status() == 200)
            },
        )
        .await;
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "POST {path}: {body}");
        body
    }

    pub(super) async fn session(&self) -> String {
        let body = self.post("/exp/livesession", json!({})).await;
        body["ID"].as_str().expect("a session ID").to_owned()
    }

    pub(super) async fn request(&self, session: &str, lesson: &str) -> String {
        let body = self
            .post(
                "/exp/livelesson",
                json!({"lessonSlug": lesson, "sessionId": session, "lessonStage": 0}),
            )
            .await;
        body["id"].as_str().expect("a livelesson id").to_owned()
    }

    /// `GET /exp/livelesson/{id}`: the status code and body.
    pub(super) async fn show(&self, id: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(format!("{}/exp/livelesson/{id}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /exp/livelesson/{id}: {e}"));
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    pub(super) async fn kill(&self, id: &str) {
        let answer = self
            .http
            .delete(format!("{}/exp/livelesson/{id}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE /exp/livelesson/{id}: {e}"));
        assert_eq!(answer.status(), 202, "DELETE /exp/livelesson/{id}");
    }
}

/// Polls every livelesson of `ids` over HTTP until it is READY; an ERROR fails at once
/// with its reason and its CREATE's audit trail.
pub(super) async fn wait_all_ready(
    exp: &Exp,
    lab: &Lab,
    ids: &[(&str, String)],
    pods: &mut [&mut Pod],
    within: Duration,
) {
    let mut pending: BTreeSet<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    wait_until("every livelesson READY", within, pods, async || {
        for id in pending.clone() {
            match exp.show(&id).await {
                (200, body) if body["Status"] == "READY" => {
                    pending.remove(&id);
                }
                (200, _) => {}
                (status, body) => {
                    let ll = lab.livelesson(&LivelessonId::from(id.as_str())).await;
                    let job = lab.job(CREATE, &id).await;
                    panic!(
                        "livelesson {id}: {status} {body}; stored error {:?}; CREATE: {}",
                        ll.and_then(|ll| ll.error),
                        crate::helpers::trail(&lab.pool, job).await
                    );
                }
            }
        }
        pending.is_empty()
    })
    .await;
}

/// The state of every job of `kind` for `ids`.
pub(super) async fn job_states(pool: &PgPool, kind: &str, ids: &[(&str, String)]) -> Vec<String> {
    let keys: Vec<String> = ids.iter().map(|(_, id)| format!("{kind}:{id}")).collect();
    sqlx::query_scalar("select state::text from jobs_all where unique_key = any($1) order by id")
        .bind(&keys)
        .fetch_all(pool)
        .await
        .expect("job states")
}

/// Once every pod has stopped: every livelesson job completed, and no job of any kind
/// (the periodic GC and refill passes included) failed, was cancelled or is left
/// claimed.
pub(super) async fn assert_jobs_finished(pool: &PgPool) {
    let unfinished: Vec<(i64, String, String)> = sqlx::query_as(
        "select id, kind, state::text from jobs_all
         where state in ('running', 'failed', 'cancelled')
            or (kind like 'livelesson.%' and state <> 'completed')",
    )
    .fetch_all(pool)
    .await
    .expect("jobs");
    assert!(
        unfinished.is_empty(),
        "jobs failed, cancelled, unfinished or left claimed: {unfinished:?}"
    );
}

/// No Forbidden anywhere: the API server's audit log holds requests of the scheduler's
/// ServiceAccount (it is the identity the pods used) and not one was refused; no job's
/// error or event and no pod's log mentions it. Returns how many requests were audited.
pub(super) async fn assert_no_forbidden(lab: &Lab, pods: &[&Pod]) -> usize {
    let user = format!("system:serviceaccount:{NAMESPACE}:{SCHEDULER_ACCOUNT}");
    let audited: Vec<_> = lab.plane.audit();
    let ours: Vec<_> = audited.iter().filter(|a| a.user == user).collect();
    assert!(
        !ours.is_empty(),
        "no request of {user} in the audit log: the pods did not use the chart's identity"
    );
    let others: BTreeSet<&str> = audited
        .iter()
        .map(|a| a.user.as_str())
        .filter(|u| *u != user)
        .collect();
    assert!(
        others.is_empty(),
        "ServiceAccounts other than the chart's called the API: {others:?}"
    );
    let refused: Vec<_> = ours.iter().filter(|a| a.code == 403).collect();
    assert!(refused.is_empty(), "Forbidden: {refused:#?}");
    let errors: Vec<String> = sqlx::query_scalar(
        "select kind || ': ' || last_error from jobs_all where last_error ilike '%forbidden%'
         union all
         select kind || ': ' || detail from job_events where detail ilike '%forbidden%'",
    )
    .fetch_all(&lab.pool)
    .await
    .expect("job errors");
    assert!(errors.is_empty(), "jobs met Forbidden: {errors:#?}");
    for pod in pods {
        let log = pod.log().to_lowercase();
        assert!(
            !log.contains("forbidden"),
            "pod {} logged a Forbidden:\n{}",
            pod.name,
            pod.log_tail(40)
        );
    }
    ours.len()
}
