//! End to end through HTTP only, as a learner's browser: session, livelesson to READY,
//! stage change to READY again, heartbeat, kill, gone.

use std::time::{Duration, Instant};

use antidote_scheduler::api::AppState;
use antidote_scheduler::config::Config;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::helpers::{ApiServer, Lab, start, worker_config};

async fn poll_until(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(u16, &Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = http.get(url).send().await.expect("GET");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if done(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test]
async fn a_learner_goes_from_session_to_ready_to_gone_over_http(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let (stop_worker, worker) = start(lab.worker(worker_config()));
    let config = Config {
        backend: lab.settings.clone(),
        ..Config::default()
    };
    let api = ApiServer::start(AppState::new(pool.clone(), lab.queue.clone(), &config)).await;
    let base = &api.base;
    let http = reqwest::Client::new();

    let session: Value = http
        .post(format!("{base}/exp/livesession"))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let session = session["ID"].as_str().expect("session id").to_owned();
    let request = |stage: i64| {
        http.post(format!("{base}/exp/livelesson"))
            .json(&json!({ "lessonSlug": "web-automation", "sessionId": session, "lessonStage": stage }))
            .send()
    };
    let created = request(0).await.expect("request");
    assert!(created.status().is_success(), "{}", created.status());
    let id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let url = format!("{base}/exp/livelesson/{id}");

    let ready = poll_until(&http, &url, "READY", |_, v| v["Status"] == "READY").await;
    // Stage 0 is left out, as protobuf JSON leaves zero values out.
    assert_eq!(ready.get("CurrentStage"), None);
    assert_eq!(ready["HealthyTests"], ready["TotalTests"]);
    let web = &ready["LiveEndpoints"]["web"];
    assert!(
        web["Host"].as_str().is_some_and(|h| h.starts_with("127.")),
        "{web}"
    );
    assert_eq!(web["LivePresentations"][0]["Type"], "http");

    let changed = request(1).await.expect("stage change");
    assert!(changed.status().is_success(), "{}", changed.status());
    let again = poll_until(&http, &url, "READY at stage 1", |_, v| {
        v["Status"] == "READY" && v["CurrentStage"] == 1
    })
    .await;
    assert!(
        again["GuideContents"]
            .as_str()
            .is_some_and(|g| !g.is_empty())
    );

    let beat = http
        .post(format!("{url}/heartbeat"))
        .send()
        .await
        .expect("heartbeat");
    assert!(beat.status().is_success(), "{}", beat.status());

    let kill = http.delete(&url).send().await.expect("kill");
    assert_eq!(kill.status().as_u16(), 202);
    poll_until(&http, &url, "the livelesson to be gone", |status, _| {
        status == 404
    })
    .await;
    assert!(
        kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(lab.kube.clone())
            .get_opt(&format!("test-{id}"))
            .await
            .expect("get")
            .is_none(),
        "the namespace is gone too"
    );

    api.stop().await;
    let _ = stop_worker.send(());
    worker.await.expect("worker");
}
