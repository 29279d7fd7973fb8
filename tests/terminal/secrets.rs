//! Credentials never reach the logs or spans: every event and span of the process,
//! captured at TRACE (the test's runtime runs every task on its thread), holds neither
//! a right nor a wrong password, while it does hold the terminals' records.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use antidote_scheduler::gateway::GatewaySettings;
use sqlx::PgPool;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::driver::Driver;
use crate::lab::Terminals;
use crate::login;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[sqlx::test]
async fn passwords_are_absent_from_logs_and_spans(pool: PgPool) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut terminals = Terminals::start(pool, GatewaySettings::default()).await;
    let ready = terminals.ready("linux-first-steps").await;
    let (host, port) = ready.ssh[0].clone();
    let wrong = format!("wrong-{}", antidote_scheduler::ids::random_text(16));
    let mut browser = Driver::start();
    browser
        .open("t1", &terminals.origin, login(&host, port, &wrong), 80, 24)
        .await;
    browser.until_event("t1", "ssherror").await;
    browser
        .open(
            "t2",
            &terminals.origin,
            login(&host, port, "antidotepassword"),
            80,
            24,
        )
        .await;
    browser.until_output("t2", "$ ").await;
    browser.close("t2").await;
    browser.until_event("t2", "disconnect").await;
    terminals.stop().await;

    let text = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    for record in [
        "terminal refused",
        "terminal opened",
        "terminal closed",
        "login_refused",
    ] {
        assert!(text.contains(record), "{record} captured");
    }
    assert!(!text.contains(&wrong), "the wrong password leaked");
    assert!(!text.contains("antidotepassword"), "the password leaked");
    assert!(!text.contains("userpassword"), "the handshake query leaked");
}
