//! The live progress stream, `GET /exp/livelesson/{id}/progress`, read over a real socket
//! from a second API process (`antidoted api`, sharing nothing with the worker's process
//! but PostgreSQL), while a worker in this process runs the CREATE on kubesim: every step
//! of the plan in order, then READY; a failed CREATE's learner-facing reason; a kill
//! while streaming; keep-alives; one final event for a lab already READY or ERROR; the
//! 404 of an unknown lab and the cap on streams per client address.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../support/lab.rs"]
mod lab;
#[path = "../support/steps.rs"]
mod steps;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use antidote_scheduler::queue::WorkerEvent;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::CREATE;
use serde_json::Value;
use sqlx::PgPool;

use lab::{Lab, finished, start, worker_config};
use steps::ROUTER_CONFIGURATION_CREATE_STEPS;

/// What a stream may take between two frames: keep-alives come every 200 ms, a step
/// within the lesson's timeouts.
const FRAME_WAIT: Duration = Duration::from_secs(60);

/// What a whole stream may take: a CREATE on kubesim, under load.
const STREAM_WAIT: Duration = Duration::from_secs(120);

/// `antidoted api` as a separate process over the test database, with 200 ms
/// keep-alives, 100 ms polls, at most `cap` streams per client address, and 2 s request
/// and header deadlines. Killed on drop.
struct ApiProcess {
    _child: tokio::process::Child,
    base: String,
}

impl ApiProcess {
    async fn start(pool: &PgPool, cap: usize) -> Self {
        let name: String = sqlx::query_scalar("select current_database()")
            .fetch_one(pool)
            .await
            .expect("current_database");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("addr").port()
        };
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_antidoted"))
            .arg("api")
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
            )
            .env("ANTIDOTE_HTTP_ADDRESS", "127.0.0.1")
            .env("ANTIDOTE_HTTP_PORT", port.to_string())
            .env("ANTIDOTE_INSTANCE_ID", "test")
            .env("ANTIDOTE_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
            .env("ANTIDOTE_RATE_LIMIT_GLOBAL_PER_SECOND", "0")
            // Short request and idle deadlines: a stream must outlive both.
            .env("ANTIDOTE_HTTP_REQUEST_TIMEOUT_SECS", "2")
            .env("ANTIDOTE_HTTP_HEADER_TIMEOUT_SECS", "2")
            .env("ANTIDOTE_PROGRESS_KEEP_ALIVE_MS", "200")
            .env("ANTIDOTE_PROGRESS_POLL_MS", "100")
            .env("ANTIDOTE_PROGRESS_MAX_STREAMS_PER_ADDRESS", cap.to_string())
            // Side by side with other tests' processes: the terminal gateway's default
            // port would collide.
            .env("ANTIDOTE_GATEWAY_PORT", "0")
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start antidoted api");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        // Each probe bounded: whatever else took the port in the meantime must not hang
        // the test.
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        while probe
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .map(|r| r.status())
            .ok()
            != Some(reqwest::StatusCode::OK)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "antidoted api did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _child: child,
            base: format!("http://{addr}"),
        }
    }

    async fn open(&self, id: &str) -> reqwest::Response {
        reqwest::get(format!("{}/exp/livelesson/{id}/progress", self.base))
            .await
            .expect("progress request")
    }

    async fn stream(&self, id: &str) -> Sse {
        let response = self.open(id).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Sse {
            response,
            buffer: String::new(),
        }
    }
}

/// One frame of a server-sent event stream.
#[derive(Debug)]
enum Frame {
    /// A comment line (a keep-alive).
    Comment(String),
    /// An event's data, parsed.
    Data(Value),
}

/// Reads a server-sent event stream frame by frame.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    /// The next frame; `None` when the server closed the stream.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let block = block.trim_end();
                if let Some(comment) = block.strip_prefix(':') {
                    return Some(Frame::Comment(comment.trim_start().to_owned()));
                }
                let data: String = block
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                return Some(Frame::Data(
                    serde_json::from_str(&data).expect("an event's data is JSON"),
                ));
            }
            let chunk = tokio::time::timeout(FRAME_WAIT, self.response.chunk())
                .await
                .expect("a frame or the end in time")
                .expect("the stream reads");
            let Some(bytes) = chunk else {
                assert!(
                    self.buffer.trim().is_empty(),
                    "cut mid-event: {}",
                    self.buffer
                );
                return None;
            };
            self.buffer
                .push_str(std::str::from_utf8(&bytes).expect("utf-8"));
        }
    }

    /// Every event until the stream closes, counting the keep-alives on the way; fails,
    /// naming the events so far, when the stream is still open after [`STREAM_WAIT`].
    async fn rest(&mut self) -> (Vec<Value>, usize) {
        let mut events = Vec::new();
        let mut keep_alives = 0;
        let deadline = Instant::now() + STREAM_WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline.into(), self.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "the stream is still open after {STREAM_WAIT:?} \
                         ({keep_alives} keep-alives): {events:?}"
                    )
                });
            match frame {
                Some(Frame::Data(event)) => events.push(event),
                Some(Frame::Comment(_)) => keep_alives += 1,
                None => return (events, keep_alives),
            }
        }
    }

    /// Waits for a keep-alive comment; fails on an event.
    async fn keep_alive(&mut self) {
        match self.next().await {
            Some(Frame::Comment(text)) => assert_eq!(text, "keep-alive"),
            other => panic!("expected a keep-alive, got {other:?}"),
        }
    }
}

#[sqlx::test]
async fn a_create_streams_every_step_of_its_plan_in_order_then_ready(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let api = ApiProcess::start(&pool, 8).await;
    let session = lab.session().await;
    let ll = lab.request(&session, "router-configuration", 0).await;
    let mut stream = api.stream(ll.id.as_str()).await;
    // No worker yet: the stream stays open on keep-alives alone.
    stream.keep_alive().await;

    let worker = lab.worker(worker_config());
    let mut worker_events = worker.subscribe();
    let (stop, handle) = start(worker);
    let (events, _) = stream.rest().await;
    let job = lab.job(CREATE, &ll.id).await;
    assert_eq!(
        finished(&mut worker_events, job, Duration::from_secs(60)).await,
        WorkerEvent::Completed(job)
    );

    let (last, steps) = events.split_last().expect("events");
    let names: Vec<&str> = steps
        .iter()
        .map(|e| e["step"].as_str().expect("a step event names its step"))
        .collect();
    // Every step CREATE runs, in its order, but the plan itself and READY (the final
    // event).
    let expected: Vec<&str> = ROUTER_CONFIGURATION_CREATE_STEPS
        .iter()
        .copied()
        .filter(|s| *s != "plan" && *s != "status:READY")
        .collect();
    assert_eq!(names, expected);
    let progress: Vec<u64> = steps
        .iter()
        .map(|e| e["progress"].as_u64().expect("progress"))
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] < w[1]) && progress.iter().all(|p| *p < 100),
        "{progress:?}"
    );
    for event in steps {
        assert!(
            event["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{event}"
        );
        assert!(
            event.get("ready").is_none() && event.get("failed").is_none(),
            "{event}"
        );
    }
    let endpoint = steps
        .iter()
        .find(|e| e["step"] == "endpoint:vqfx-1")
        .expect("the vqfx-1 step");
    assert_eq!(endpoint["endpoint"], "vqfx-1");
    assert_eq!(endpoint["message"], "Started endpoint vqfx-1");
    assert_eq!(
        endpoint["html_message"],
        "Started endpoint <code>vqfx-1</code>"
    );
    assert_eq!(last["progress"], 100);
    assert_eq!(last["ready"], true);
    assert_eq!(last["message"], "Your lab is ready");
    assert_eq!(
        lab.livelesson(&ll.id).await.expect("ll").status,
        Status::Ready
    );

    // Already READY: one final event, then the end.
    let (events, _) = api.stream(ll.id.as_str()).await.rest().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["ready"], true);

    // A stage change (MODIFY) repeats no CREATE step: the stream waits for READY alone.
    let changed = reqwest::Client::new()
        .post(format!("{}/exp/livelesson", api.base))
        .json(&serde_json::json!({
            "lessonSlug": "router-configuration",
            "sessionId": session.as_str(),
            "lessonStage": 1,
        }))
        .send()
        .await
        .expect("stage change");
    assert_eq!(changed.status(), reqwest::StatusCode::OK);
    let (events, _) = api.stream(ll.id.as_str()).await.rest().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["ready"], true);
    let modify = lab.job(antidote_scheduler::workflow::MODIFY, &ll.id).await;
    assert_eq!(
        finished(&mut worker_events, modify, Duration::from_secs(60)).await,
        WorkerEvent::Completed(modify)
    );

    let _ = stop.send(());
    handle.await.expect("worker");
}

#[sqlx::test]
async fn a_failed_create_ends_its_stream_with_the_learner_facing_reason(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let api = ApiProcess::start(&pool, 8).await;
    let session = lab.session().await;
    let ll = lab.request(&session, "linux-first-steps", 0).await;
    // Its pinned images lack one: CREATE fails for good at its first step.
    sqlx::query("update livelessons set images = images - 'utility' where id = $1")
        .bind(&ll.id)
        .execute(&pool)
        .await
        .expect("drop image");
    let mut stream = api.stream(ll.id.as_str()).await;
    stream.keep_alive().await;
    let worker = lab.worker(worker_config());
    let (stop, handle) = start(worker);
    let (events, _) = stream.rest().await;

    // What the learner's page is told, from the same process.
    let shown = reqwest::get(format!("{}/exp/livelesson/{}", api.base, ll.id))
        .await
        .expect("show");
    assert_eq!(shown.status(), reqwest::StatusCode::CONFLICT);
    let shown: Value = shown.json().await.expect("error body");
    assert_eq!(shown["code"], 9);
    let [failed] = events.as_slice() else {
        panic!("one final event (no step completed): {events:?}");
    };
    assert_eq!(failed["failed"], true);
    assert_eq!(failed["progress"], 100);
    assert_eq!(failed["message"], shown["message"]);
    assert!(failed.get("ready").is_none(), "{failed}");
    // The operators' reason (which image) is not the learner's.
    assert!(
        !failed["message"]
            .as_str()
            .expect("text")
            .contains("utility")
    );

    // Already ERROR: the same final event alone.
    let (again, _) = api.stream(ll.id.as_str()).await.rest().await;
    assert_eq!(again, events);

    let _ = stop.send(());
    handle.await.expect("worker");
}

#[sqlx::test]
async fn a_lab_killed_while_streaming_ends_its_stream_saying_so(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let api = ApiProcess::start(&pool, 8).await;
    let session = lab.session().await;
    let ll = lab.request(&session, "linux-first-steps", 0).await;
    let mut stream = api.stream(ll.id.as_str()).await;
    // No worker runs: the stream stays open on keep-alives, past the process's request
    // and header deadlines (2 s), which bound a request's head and handling, not a stream.
    let opened = Instant::now();
    while opened.elapsed() < Duration::from_secs(3) {
        stream.keep_alive().await;
    }
    // The kill is seen while the lab waits to start.
    let killed = reqwest::Client::new()
        .delete(format!("{}/exp/livelesson/{}", api.base, ll.id))
        .send()
        .await
        .expect("kill");
    assert_eq!(killed.status(), reqwest::StatusCode::ACCEPTED);
    let (events, _) = stream.rest().await;
    let [stopped] = events.as_slice() else {
        panic!("one final event: {events:?}");
    };
    assert_eq!(stopped["failed"], true);
    assert_eq!(stopped["stopped"], true);
    assert!(
        stopped["message"]
            .as_str()
            .is_some_and(|m| m.contains("stopped")),
        "{stopped}"
    );
}

#[sqlx::test]
async fn unknown_labs_are_404_and_streams_are_capped_per_address(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let api = ApiProcess::start(&pool, 2).await;
    for id in ["abcdefghij", "NOT-AN-ID", "..%2F..%2Fetc"] {
        let response = api.open(id).await;
        assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND, "{id}");
        let body: Value = response.json().await.expect("gateway error body");
        assert_eq!(body["code"], 5, "{body}");
        assert_eq!(body["error"], body["message"], "{body}");
    }

    let session = lab.session().await;
    let ll = lab.request(&session, "linux-first-steps", 0).await;
    let mut first = api.stream(ll.id.as_str()).await;
    let _second = api.stream(ll.id.as_str()).await;
    let refused = api.open(ll.id.as_str()).await;
    assert_eq!(refused.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("gateway error body");
    assert_eq!(body["code"], 8, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("progress streams")),
        "{body}"
    );
    // The open ones are untouched.
    first.keep_alive().await;

    // A stream whose client went away gives its place back (seen by the server at its
    // next keep-alive).
    drop(first);
    let started = Instant::now();
    loop {
        let response = api.open(ll.id.as_str()).await;
        if response.status() == reqwest::StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the closed stream's place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
