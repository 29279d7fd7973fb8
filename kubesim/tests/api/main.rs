//! API-level tests: CRUD of every resource, selectors, watches, Status errors, validation,
//! namespace termination, discovery, and refusal of unimplemented requests.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod discovery;
mod namespaces;
mod objects;
mod quotas;
mod selectors;
mod status_errors;
mod unimplemented;
mod validation;
mod watches;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, PostParams};
use kubesim::{Config, KubeSim};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn start() -> (KubeSim, Client) {
    let sim = KubeSim::start(Config {
        seed: Some(7),
        ..Config::default()
    })
    .await
    .unwrap();
    let config = kube::Config::new(sim.url().parse().unwrap());
    let client = Client::try_from(config).unwrap();
    (sim, client)
}

async fn make_ns(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

/// Polls `f` until it returns Some or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn api_err(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    ct: &str,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(
            body.map(|b| serde_json::to_vec(&b).unwrap())
                .unwrap_or_default(),
        )
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        code,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

fn obj<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).unwrap()
}
