//! The presentation proxy, as a learner's browser meets it: the iframe of an http
//! presentation and the jupyter guide load at the `HepDomain`/`GuideDomain` the API
//! returned, reach the endpoint's own listener (kubesim's node agent), and stop when the
//! lab is killed; an address no READY lab has is refused without reaching anything.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use antidote_scheduler::api::AppState;
use antidote_scheduler::config::Config;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::helpers::{ApiServer, Lab, start, worker_config};

/// A browser's GET of `http://<address><path>`: `*.localhost` is the loopback address.
async fn browse(address: &str, path: &str) -> (u16, String) {
    let (host, _) = address.rsplit_once(':').expect("the address has a port");
    let http = reqwest::Client::builder()
        .resolve(host, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .build()
        .expect("client");
    let response = http
        .get(format!("http://{address}{path}"))
        .send()
        .await
        .expect("GET through the proxy");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn ready(http: &reqwest::Client, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = http
            .get(url)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .unwrap_or(Value::Null);
        if body["Status"] == "READY" {
            return body;
        }
        assert!(Instant::now() < deadline, "not READY in time: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test]
async fn iframes_load_the_endpoints_at_the_reported_addresses_until_the_lab_is_killed(
    pool: PgPool,
) {
    let mut lab = Lab::start(pool.clone()).await;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = proxy.local_addr().expect("address").port();
    lab.settings.heps_port = Some(port);
    let (stop_proxy, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(antidote_scheduler::presentation_proxy::serve(
        proxy,
        pool.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let (stop_worker, worker) = start(lab.worker(worker_config()));
    let config = Config {
        backend: lab.settings.clone(),
        ..Config::default()
    };
    let api = ApiServer::start(AppState::new(pool.clone(), lab.queue.clone(), &config)).await;
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{}/exp/livesession", api.base))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let mut urls = Vec::new();
    for lesson in ["web-automation", "notebook-automation"] {
        let created: Value = http
            .post(format!("{}/exp/livelesson", api.base))
            .json(&json!({ "lessonSlug": lesson, "sessionId": session["ID"], "lessonStage": 0 }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        let id = created["id"].as_str().expect("id").to_owned();
        urls.push(format!("{}/exp/livelesson/{id}", api.base));
    }

    // The web presentation: its address carries the proxy's port, its page is the
    // endpoint's own.
    let web = ready(&http, &urls[0]).await;
    let presentation = &web["LiveEndpoints"]["web"]["LivePresentations"][0];
    assert_eq!(presentation["Type"], "http");
    let address = presentation["HepDomain"].as_str().expect("HepDomain");
    assert!(
        address.ends_with(&format!(".localhost:{port}")),
        "{address}"
    );
    let (status, page) = browse(address, "/").await;
    assert_eq!(status, 200, "{page}");
    let web_port = presentation["Port"].as_u64().expect("port");
    assert_eq!(page.trim(), format!("kubesim: web port {web_port} /"));

    // The jupyter guide, at the path the front end opens.
    let notebook = ready(&http, &urls[1]).await;
    let guide = notebook["GuideDomain"].as_str().expect("GuideDomain");
    assert!(guide.ends_with(&format!(".localhost:{port}")), "{guide}");
    let path = "/notebooks/stage0/guide.ipynb";
    let (status, page) = browse(guide, path).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page.trim(),
        format!("kubesim: jupyterlabguide port 8888 {path}")
    );

    // An address no lab presents: refused by the proxy, naming it.
    let stranger = format!("test-nosuchlab-web-site.localhost:{port}");
    let (status, page) = browse(&stranger, "/").await;
    assert_eq!(status, 404);
    assert!(page.contains(&stranger), "{page}");

    // Killed: the page is gone with the lab.
    let kill = http.delete(&urls[0]).send().await.expect("kill");
    assert_eq!(kill.status().as_u16(), 202);
    let (status, _) = browse(address, "/").await;
    assert_eq!(status, 404, "a lab being deleted presents nothing");

    api.stop().await;
    let _ = stop_worker.send(());
    worker.await.expect("worker");
    let _ = stop_proxy.send(());
    proxy.await.expect("proxy task").expect("proxy");
}
