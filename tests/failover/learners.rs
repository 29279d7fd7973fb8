//! The scheduler's clients over HTTP, as the front end is one: learners (a session, then
//! every lesson requested and its livelesson polled every 500 ms until READY), a writer
//! that keeps making sessions (so that the moment writes resume is seen), and a monitor
//! of `/readyz`. Every exchange goes into one journal, judged after the run.
//!
//! A learner answered 503 waits its `Retry-After` and sends the same request again, as a
//! browser user reloads (requests are idempotent: one livelesson per session and lesson).
//! Anything else that is not an answer it expects (a 500, no answer, a connection cut) is
//! recorded, and the learner tries again a second later, so that the run still shows
//! whether the livelesson gets READY.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::scenario::Deadline;

/// How long a client waits for an answer before it counts as none. The scheduler must
/// answer within [`super::report::ANSWER_BOUND`]; this leaves room to tell a slow answer
/// from none.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// A learner's polling period.
const POLL: Duration = Duration::from_millis(500);
/// Longest `Retry-After` a learner honours (a longer one is waited this long).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What an exchange got.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An HTTP answer.
    Answered {
        status: u16,
        /// The `Retry-After` header, as sent.
        retry_after: Option<String>,
        body: String,
    },
    /// No answer: a timeout, a refused or cut connection.
    None(String),
}

/// One request and what it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `learner 2`, `writer`, `readyz`.
    pub who: String,
    /// `POST /exp/livelesson`.
    pub what: String,
    pub sent: Instant,
    pub answered: Instant,
    /// The same two moments on the wall clock, to find the scheduler's log lines.
    pub sent_wall: SystemTime,
    pub answered_wall: SystemTime,
    pub outcome: Outcome,
}

impl Exchange {
    /// The status, when answered.
    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Answered { status, .. } => Some(status),
            Outcome::None(_) => None,
        }
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        match &self.outcome {
            Outcome::Answered { body, .. } => serde_json::from_str(body).unwrap_or(Value::Null),
            Outcome::None(_) => Value::Null,
        }
    }

    /// Whether it is a write (a method other than GET).
    pub fn is_write(&self) -> bool {
        !self.what.starts_with("GET ")
    }

    /// How long the answer took.
    pub fn took(&self) -> Duration {
        self.answered - self.sent
    }

    /// The `Retry-After` to honour: the header's seconds (at most [`MAX_RETRY_AFTER`]),
    /// else a second.
    fn retry_after(&self) -> Duration {
        match &self.outcome {
            Outcome::Answered {
                retry_after: Some(value),
                ..
            } => value
                .trim()
                .parse::<u64>()
                .map_or(Duration::from_secs(1), Duration::from_secs)
                .min(MAX_RETRY_AFTER),
            _ => Duration::from_secs(1),
        }
    }
}

/// Every exchange of the run.
#[derive(Debug, Default)]
pub struct Journal(Mutex<Vec<Exchange>>);

impl Journal {
    fn push(&self, exchange: Exchange) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(exchange);
    }

    /// A copy of every exchange so far, in the order they were answered.
    pub fn all(&self) -> Vec<Exchange> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A client of the API; clones share the connection pool and the journal.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Arc<str>,
    pub journal: Arc<Journal>,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(CLIENT_TIMEOUT)
                .build()
                .expect("http client"),
            base: base.into(),
            journal: Arc::default(),
        }
    }

    /// Sends one request and records it.
    pub async fn call(&self, who: &str, method: &str, path: &str, body: Option<Value>) -> Exchange {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "DELETE" => self.http.delete(url),
            other => panic!("unsupported method {other}"),
        };
        if let Some(body) = body {
            // As the front end sends it: a JSON string labelled text/plain.
            request = request
                .header("content-type", "text/plain;charset=UTF-8")
                .body(body.to_string());
        }
        let sent = Instant::now();
        let sent_wall = SystemTime::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                match response.bytes().await {
                    Ok(body) => Outcome::Answered {
                        status,
                        retry_after,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    },
                    Err(err) => Outcome::None(format!("reading the body of a {status}: {err}")),
                }
            }
            Err(err) => Outcome::None(describe(&err)),
        };
        let exchange = Exchange {
            who: who.to_owned(),
            what: format!("{method} {}", route(path)),
            sent,
            answered: Instant::now(),
            sent_wall,
            answered_wall: SystemTime::now(),
            outcome,
        };
        self.journal.push(exchange.clone());
        exchange
    }
}

/// A path with its ids replaced, so that exchanges group by route.
fn route(path: &str) -> String {
    match path.strip_prefix("/exp/livelesson/") {
        Some(rest) if !rest.contains('/') => "/exp/livelesson/{id}".into(),
        _ => path.to_owned(),
    }
}

fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        format!("no answer within {CLIENT_TIMEOUT:?}")
    } else if err.is_connect() {
        "connection refused or failed".into()
    } else {
        "connection error".into()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How a requested livelesson ended for its learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Ready,
    /// The API answered the livelesson failed (code 9), with this text.
    Error(String),
    /// The learner stopped without either: why.
    GaveUp(String),
}

/// One lesson a learner asked for.
#[derive(Debug, Clone)]
pub struct Requested {
    pub learner: String,
    pub lesson: String,
    pub id: Option<String>,
    pub end: End,
    /// When the learner saw it READY.
    pub ready_at: Option<Instant>,
}

/// Ids answered so far, for the scenario to see provisioning under way.
#[derive(Debug, Default)]
pub struct Board(Mutex<Vec<String>>);

impl Board {
    fn add(&self, id: &str) {
        let mut ids = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }

    /// The ids answered so far.
    pub fn ids(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A learner: a session, then every lesson in it at once (tabs of one browser), each
/// followed to READY; gives up at `deadline`.
pub async fn learner(
    api: Api,
    who: String,
    lessons: Vec<String>,
    board: Arc<Board>,
    deadline: Deadline,
) -> Vec<Requested> {
    let session = match session(&api, &who, &deadline).await {
        Ok(session) => session,
        Err(why) => {
            return lessons
                .into_iter()
                .map(|lesson| Requested {
                    learner: who.clone(),
                    lesson,
                    id: None,
                    end: End::GaveUp(why.clone()),
                    ready_at: None,
                })
                .collect();
        }
    };
    let tabs = lessons.into_iter().map(|lesson| {
        let (api, who, session, board, deadline) = (
            api.clone(),
            who.clone(),
            session.clone(),
            board.clone(),
            deadline.clone(),
        );
        async move {
            let mut requested = Requested {
                learner: who.clone(),
                lesson: lesson.clone(),
                id: None,
                end: End::GaveUp(String::new()),
                ready_at: None,
            };
            match request(&api, &who, &session, &lesson, &deadline).await {
                Ok(id) => {
                    board.add(&id);
                    requested.end = follow(&api, &who, &id, &deadline).await;
                    if requested.end == End::Ready {
                        requested.ready_at = Some(Instant::now());
                    }
                    requested.id = Some(id);
                }
                Err(why) => requested.end = End::GaveUp(why),
            }
            requested
        }
    });
    futures::future::join_all(tabs).await
}

/// Waits before sending again after `exchange`: its `Retry-After` on a 503, a second
/// after anything else that went wrong. `Err` past the deadline.
async fn pause(exchange: &Exchange, deadline: &Deadline) -> Result<(), String> {
    let wait = if exchange.status() == Some(503) {
        exchange.retry_after()
    } else {
        Duration::from_secs(1)
    };
    if Instant::now() + wait > deadline.get() {
        return Err(format!(
            "{}: still {} at the deadline",
            exchange.what,
            summary(exchange)
        ));
    }
    tokio::time::sleep(wait).await;
    Ok(())
}

/// `POST /exp/livesession` until answered 200.
async fn session(api: &Api, who: &str, deadline: &Deadline) -> Result<String, String> {
    loop {
        let exchange = api.call(who, "POST", "/exp/livesession", None).await;
        match (exchange.status(), exchange.json()["ID"].as_str()) {
            (Some(200), Some(id)) => return Ok(id.to_owned()),
            (Some(status), _) if status < 500 => {
                return Err(format!("session refused: {}", summary(&exchange)));
            }
            _ => pause(&exchange, deadline).await?,
        }
    }
}

/// `POST /exp/livelesson` at stage 0 until answered 200 with an id.
async fn request(
    api: &Api,
    who: &str,
    session: &str,
    lesson: &str,
    deadline: &Deadline,
) -> Result<String, String> {
    let body = json!({ "lessonSlug": lesson, "sessionId": session, "lessonStage": 0 });
    loop {
        let exchange = api
            .call(who, "POST", "/exp/livelesson", Some(body.clone()))
            .await;
        match (exchange.status(), exchange.json()["id"].as_str()) {
            (Some(200), Some(id)) => return Ok(id.to_owned()),
            (Some(status), _) if status < 500 => {
                return Err(format!("{lesson} refused: {}", summary(&exchange)));
            }
            _ => pause(&exchange, deadline).await?,
        }
    }
}

/// Polls `GET /exp/livelesson/{id}` every 500 ms until READY or failed.
async fn follow(api: &Api, who: &str, id: &str, deadline: &Deadline) -> End {
    let path = format!("/exp/livelesson/{id}");
    loop {
        let exchange = api.call(who, "GET", &path, None).await;
        let body = exchange.json();
        match exchange.status() {
            Some(200) if body["Status"] == "READY" => return End::Ready,
            Some(200) => {
                if Instant::now() + POLL > deadline.get() {
                    return End::GaveUp(format!(
                        "{id} not READY at the deadline: Status {}",
                        body["Status"]
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
            // The gateway's failed-precondition: the livelesson is in ERROR.
            Some(409) if body["code"] == 9 => {
                return End::Error(body["error"].as_str().unwrap_or_default().to_owned());
            }
            Some(status) if status < 500 => {
                return End::GaveUp(format!("{id}: {}", summary(&exchange)));
            }
            _ => {
                if let Err(why) = pause(&exchange, deadline).await {
                    return End::GaveUp(why);
                }
            }
        }
    }
}

/// `503 {"error":...}` or `no answer: ...`, for messages.
pub fn summary(exchange: &Exchange) -> String {
    match &exchange.outcome {
        Outcome::Answered {
            status,
            retry_after,
            body,
        } => {
            let mut body = body.clone();
            if body.len() > 300 {
                let mut cut = 300;
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                body.truncate(cut);
                body.push_str("...");
            }
            match retry_after {
                Some(seconds) => format!("{status} (Retry-After: {seconds}) {body}"),
                None => format!("{status} {body}"),
            }
        }
        Outcome::None(why) => format!("no answer: {why}"),
    }
}

/// A request sent every `period` by `who` (each on its own task, so that one that hangs
/// does not delay the next) until stopped.
pub struct Ticker {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Ticker {
    pub fn start(
        api: Api,
        who: &'static str,
        method: &'static str,
        path: &'static str,
        period: Duration,
    ) -> Self {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut calls = tokio::task::JoinSet::new();
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    _ = ticks.tick() => {
                        let api = api.clone();
                        calls.spawn(async move { api.call(who, method, path, None).await; });
                    }
                }
                while calls.try_join_next().is_some() {}
            }
            // The calls under way are answered (or time out) and recorded.
            while calls.join_next().await.is_some() {}
        });
        Self { stop, task }
    }

    /// Stops sending, and waits for the calls under way.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("ticker");
    }
}
