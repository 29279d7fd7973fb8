//! The terminal gateway driven as the unmodified front end drives it: socket.io-client
//! 2.3.0 (the version antidote-ui-components pins) in node, against the gateway on
//! loopback, logging in over real SSH to kubesim's sandboxed shells of READY livelessons
//! made by the real workflows. Refusals are proven not to dial.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod activity;
mod driver;
mod lab;
mod secrets;

use antidote_scheduler::gateway::GatewaySettings;
use serde_json::json;
use sqlx::PgPool;
use tokio::net::TcpListener;

use driver::Driver;
use lab::Terminals;

#[sqlx::test]
async fn a_lab_terminal_logs_in_echoes_resizes_and_runs_guide_commands(pool: PgPool) {
    let mut terminals = Terminals::start(pool, GatewaySettings::default()).await;
    let ready = terminals.ready("linux-first-steps").await;
    let (host, port) = ready.ssh[0].clone();
    let mut browser = Driver::start();
    browser
        .open(
            "t1",
            &terminals.origin,
            login(&host, port, "antidotepassword"),
            80,
            24,
        )
        .await;
    browser.until_event("t1", "connect").await;
    browser.until_output("t1", "$ ").await;

    // A command's output comes back (computed, so the echo of the typing cannot match).
    let token = antidote_scheduler::ids::random_text(12);
    browser
        .type_in("t1", &format!("echo {token}-$((6*7))\r"))
        .await;
    browser.until_output("t1", &format!("{token}-42")).await;

    // The pty has the geometry the browser sent, then its resize.
    browser.type_in("t1", "stty size\r").await;
    browser.until_output("t1", "24 80").await;
    browser.resize("t1", 132, 43).await;
    browser.type_in("t1", "stty size\r").await;
    browser.until_output("t1", "43 132").await;

    // The guide's run button: Ctrl-U clears what was typed, then the command.
    browser.type_in("t1", "half-typed garbage").await;
    browser
        .type_in("t1", &format!("\u{15}echo run-{token}-$((2+3))\r"))
        .await;
    let output = browser.until_output("t1", &format!("run-{token}-5")).await;
    assert!(!output.contains("command not found"), "{output}");
    // socket.io-client 2 connects by long-polling, then upgrades to a websocket.
    assert!(browser.saw("t1", "upgrade", &json!("websocket")));

    browser.close("t1").await;
    browser.until_event("t1", "disconnect").await;
    terminals.stop().await;
}

#[sqlx::test]
async fn every_terminal_of_every_example_lesson_logs_in(pool: PgPool) {
    let mut terminals = Terminals::start(pool, GatewaySettings::default()).await;
    let mut browser = Driver::start();
    let mut opened = 0;
    for lesson in [
        "linux-first-steps",
        "router-configuration",
        "web-automation",
        "notebook-automation",
    ] {
        let ready = terminals.ready(lesson).await;
        assert!(!ready.ssh.is_empty(), "{lesson} has terminals");
        for (host, port) in &ready.ssh {
            opened += 1;
            let id = format!("t{opened}");
            browser
                .open(
                    &id,
                    &terminals.origin,
                    login(host, *port, "antidotepassword"),
                    80,
                    24,
                )
                .await;
            browser.until_output(&id, "$ ").await;
            browser.type_in(&id, "echo ok-$((40+2))\r").await;
            browser.until_output(&id, "ok-42").await;
        }
    }
    assert_eq!(opened, 8, "the example curriculum's ssh presentations");
    terminals.stop().await;
}

#[sqlx::test]
async fn an_address_outside_ready_labs_is_refused_without_a_connection(pool: PgPool) {
    let terminals = Terminals::start(pool, GatewaySettings::default()).await;
    // A listener the test owns: the gateway must never connect to it.
    let bystander = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = bystander.local_addr().expect("address").port();
    let mut browser = Driver::start();
    browser
        .open(
            "t1",
            &terminals.origin,
            login("127.0.0.1", port, "whatever-secret"),
            80,
            24,
        )
        .await;
    let refusal = browser.until_event("t1", "ssherror").await;
    assert_eq!(
        refusal.as_str(),
        Some(format!("127.0.0.1:{port} is not a terminal of any lab").as_str())
    );
    browser.until_event("t1", "disconnect").await;
    // The first connection the bystander accepts is the test's own: none came before it.
    let own = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (_, peer) = bystander.accept().await.expect("accept");
    assert_eq!(peer, own.local_addr().expect("own address"));
    terminals.stop().await;
}

#[sqlx::test]
async fn a_wrong_password_and_a_non_terminal_port_are_refused(pool: PgPool) {
    let mut terminals = Terminals::start(pool, GatewaySettings::default()).await;
    let ready = terminals.ready("linux-first-steps").await;
    let (host, port) = ready.ssh[0].clone();
    let mut browser = Driver::start();
    browser
        .open(
            "t1",
            &terminals.origin,
            login(&host, port, "not-the-password"),
            80,
            24,
        )
        .await;
    let refusal = browser.until_event("t1", "ssherror").await;
    assert_eq!(
        refusal.as_str(),
        Some(format!("login refused by {host}:{port}").as_str())
    );
    browser.until_event("t1", "disconnect").await;

    // The same endpoint on a port that is not one of its ssh presentations.
    let other = if port == 2222 { 2223 } else { 2222 };
    browser
        .open(
            "t2",
            &terminals.origin,
            login(&host, other, "antidotepassword"),
            80,
            24,
        )
        .await;
    let refusal = browser.until_event("t2", "ssherror").await;
    assert_eq!(
        refusal.as_str(),
        Some(format!("{host}:{other} is not a terminal of any lab").as_str())
    );
    terminals.stop().await;
}

#[sqlx::test]
async fn terminals_close_when_their_lab_is_killed(pool: PgPool) {
    let settings = GatewaySettings {
        recheck_interval_secs: 1,
        ..GatewaySettings::default()
    };
    let mut terminals = Terminals::start(pool, settings).await;
    let ready = terminals.ready("linux-first-steps").await;
    let (host, port) = ready.ssh[0].clone();
    let mut browser = Driver::start();
    browser
        .open(
            "t1",
            &terminals.origin,
            login(&host, port, "antidotepassword"),
            80,
            24,
        )
        .await;
    browser.until_output("t1", "$ ").await;
    terminals.kill(&ready.id).await;
    let why = browser.until_event("t1", "ssherror").await;
    assert!(
        why.as_str().is_some_and(|w| w.starts_with("the lab ended")),
        "{why}"
    );
    browser.until_event("t1", "disconnect").await;
    terminals.stop().await;
}

#[sqlx::test]
async fn caps_refuse_a_terminal_over_them_and_an_idle_one_is_closed(pool: PgPool) {
    let settings = GatewaySettings {
        max_per_livelesson: 1,
        idle_timeout_secs: 1,
        ..GatewaySettings::default()
    };
    let mut terminals = Terminals::start(pool, settings).await;
    let ready = terminals.ready("linux-first-steps").await;
    let (host, port) = ready.ssh[0].clone();
    let mut browser = Driver::start();
    browser
        .open(
            "t1",
            &terminals.origin,
            login(&host, port, "antidotepassword"),
            80,
            24,
        )
        .await;
    browser.until_output("t1", "$ ").await;
    browser
        .open(
            "t2",
            &terminals.origin,
            login(&host, port, "antidotepassword"),
            80,
            24,
        )
        .await;
    assert_eq!(
        browser.until_event("t2", "ssherror").await,
        json!("this lab already has 1 terminals open")
    );
    // Nobody types in the first: the idle timeout closes it, saying so.
    assert_eq!(
        browser.until_event("t1", "ssherror").await,
        json!("closed after 1 seconds without typing")
    );
    browser.until_event("t1", "disconnect").await;
    let metrics = antidote_scheduler::telemetry::metrics().render();
    for series in [
        r#"antidote_terminal_refusals_total{reason="livelesson_full"} 1"#,
        r#"antidote_terminal_closes_total{reason="idle"} 1"#,
        "antidote_terminals_open 0",
        r#"antidote_terminal_bytes_total{direction="out"}"#,
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    terminals.stop().await;
}

/// The handshake query the front end sends for an endpoint.
pub fn login(host: &str, port: u16, password: &str) -> serde_json::Value {
    json!({"host": host, "port": port, "username": "antidote", "userpassword": password})
}
