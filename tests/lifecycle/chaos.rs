//! Chaos, driven over HTTP as real clients drive it: three worker processes SIGKILLed and
//! restarted every second or two; the API (the production axum router on a loopback
//! socket, with its own database pool as `antidoted api` has) taking 200 livelesson
//! requests from 50 learners' clients at once, each of which then polls its livelesson,
//! sends a heartbeat, changes its stage or kills it, while the API's database connections are cut at every
//! worker kill; kubesim failing 5% of Kubernetes calls with random latency.
//!
//! Proves: every requested livelesson ends READY at the stage asked for (or gone when it
//! was killed), no job is left unfinished, no namespace exists twice, none is left without
//! state after a GC pass, every claim is followed by its outcome in the audit trail, and
//! every request, stage change and kill a client was answered for made exactly one job:
//! a request a client saw fail (a 5xx or no answer) is retried by the client, as the front
//! end does, and the retry counts once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use antidote_scheduler::api::AppState;
use antidote_scheduler::backend::Backend;
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::config::{Config, HttpSettings, RateLimitSettings, Secret};
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::{CREATE, DELETE, MODIFY};
use antidote_scheduler::{db, gc, queue};
use kubesim::{InjectedError, Latency};
use rand::Rng;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;

use super::LESSONS;
use super::helpers::{ApiServer, ChildWorker, Lab, database_url};
use super::pools::{Settings as PoolSettings, apply, ready_spares};

const SESSIONS: usize = 50;
/// Bearer token of the operator's client (the admin API).
const ADMIN_TOKEN: &str = "chaos-operator";
/// The whole run, learners and the drain of the queue, must end within this.
const DEADLINE: Duration = Duration::from_secs(150);

/// What a learner does with a livelesson once it is READY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Keep,
    ChangeStage,
    Kill,
}

/// The plan of the `n`th request: once READY, every seventh livelesson is killed and
/// every fifth other one of a multi-stage lesson moves to stage 1.
fn plan(n: usize, lesson: &str) -> Plan {
    if n % 7 == 3 {
        Plan::Kill
    } else if n.is_multiple_of(5) && lesson != "linux-first-steps" {
        Plan::ChangeStage
    } else {
        Plan::Keep
    }
}

/// What one learner's client was answered and saw.
#[derive(Debug)]
struct Outcome {
    lesson: &'static str,
    /// The livelesson id the API answered with; empty if it never answered.
    id: String,
    /// A stage change was answered with success.
    changed: bool,
    /// A kill was answered with success.
    killed: bool,
    /// Whether the client saw the end it wanted (READY at its stage, or gone after the
    /// kill), or what it saw instead.
    settled: Result<(), String>,
}

/// What the clients met on the wire, over all of them.
#[derive(Debug, Default)]
struct Wire {
    calls: AtomicU64,
    heartbeats: AtomicU64,
    server_errors: AtomicU64,
    unanswered: AtomicU64,
}

/// An answer other than a server error.
struct Answer {
    status: u16,
    body: Value,
    /// An earlier attempt failed: its effect may or may not have happened.
    retried: bool,
}

/// A client of the API, as a learner's browser (or the operator's tool) is one. Clones
/// share the connection pool and the tally.
#[derive(Clone)]
struct ApiClient {
    http: reqwest::Client,
    base: Arc<str>,
    wire: Arc<Wire>,
    give_up: Instant,
}

impl ApiClient {
    /// Sends until answered with anything but a server error, retrying after a short
    /// jittered pause as a front end does. A timeout or a cut connection is no answer,
    /// retried too.
    async fn send(
        &self,
        what: &str,
        request: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<Answer, String> {
        let mut retried = false;
        loop {
            self.wire.calls.fetch_add(1, Ordering::Relaxed);
            match request(&self.http, &self.base).send().await {
                Ok(response) if !response.status().is_server_error() => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(body) => {
                            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            return Ok(Answer {
                                status,
                                body,
                                retried,
                            });
                        }
                        Err(_) => self.wire.unanswered.fetch_add(1, Ordering::Relaxed),
                    };
                }
                Ok(_) => {
                    self.wire.server_errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.wire.unanswered.fetch_add(1, Ordering::Relaxed);
                }
            }
            if Instant::now() >= self.give_up {
                return Err(format!("{what}: no answer before the deadline"));
            }
            retried = true;
            tokio::time::sleep(jitter(50, 150)).await;
        }
    }

    /// `POST /exp/livesession`.
    async fn session(&self) -> Result<String, String> {
        let answer = self
            .send("session", |http, base| {
                http.post(format!("{base}/exp/livesession"))
            })
            .await?;
        match (answer.status, answer.body["ID"].as_str()) {
            (200, Some(id)) => Ok(id.to_owned()),
            (status, _) => Err(format!("session refused: {status} {}", answer.body)),
        }
    }

    /// `POST /exp/livelesson`: a new livelesson, or a stage change of the session's.
    async fn request(&self, session: &str, lesson: &str, stage: i64) -> Result<String, String> {
        let body = json!({ "sessionId": session, "lessonSlug": lesson, "lessonStage": stage });
        let answer = self
            .send("request", |http, base| {
                http.post(format!("{base}/exp/livelesson")).json(&body)
            })
            .await?;
        match (answer.status, answer.body["id"].as_str()) {
            (200, Some(id)) => Ok(id.to_owned()),
            (status, _) => Err(format!(
                "{lesson} at stage {stage} refused: {status} {}",
                answer.body
            )),
        }
    }

    /// `POST /exp/livelesson/{id}/heartbeat`.
    async fn heartbeat(&self, id: &str) -> Result<(), String> {
        let answer = self
            .send("heartbeat", |http, base| {
                http.post(format!("{base}/exp/livelesson/{id}/heartbeat"))
            })
            .await?;
        match answer.status {
            204 => {
                self.wire.heartbeats.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            status => Err(format!(
                "heartbeat of {id} refused: {status} {}",
                answer.body
            )),
        }
    }

    /// `DELETE /exp/livelesson/{id}`.
    async fn kill(&self, id: &str) -> Result<(), String> {
        let answer = self
            .send("kill", |http, base| {
                http.delete(format!("{base}/exp/livelesson/{id}"))
            })
            .await?;
        match answer.status {
            202 => Ok(()),
            // An earlier attempt's kill went through and has already finished.
            404 if answer.retried => Ok(()),
            status => Err(format!("kill of {id} refused: {status} {}", answer.body)),
        }
    }

    /// Polls `GET /exp/livelesson/{id}` (about every second, as a front end polls) until
    /// `done` holds; an ERROR status ends the wait at once.
    async fn wait(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(u16, &Value) -> bool,
    ) -> Result<(), String> {
        loop {
            let answer = self
                .send("poll", |http, base| {
                    http.get(format!("{base}/exp/livelesson/{id}"))
                })
                .await?;
            if done(answer.status, &answer.body) {
                return Ok(());
            }
            // A failed livelesson is answered with the gateway's error, gRPC code 9.
            if answer.body["code"] == 9 {
                return Err(format!("{id} failed: {}", answer.body["error"]));
            }
            if Instant::now() >= self.give_up {
                return Err(format!(
                    "{id} not {what} before the deadline: {} {}",
                    answer.status, answer.body["Status"]
                ));
            }
            tokio::time::sleep(jitter(750, 1250)).await;
        }
    }

    /// Jobs not yet finished, asked of the admin API as an operator would.
    async fn unfinished_jobs(&self) -> Result<usize, String> {
        let mut unfinished = 0;
        for state in ["scheduled", "available", "running", "retryable"] {
            let answer = self
                .send("jobs", |http, base| {
                    http.get(format!("{base}/v1/jobs?state={state}&limit=1000"))
                        .bearer_auth(ADMIN_TOKEN)
                })
                .await?;
            match (answer.status, answer.body["jobs"].as_array()) {
                (200, Some(jobs)) => unfinished += jobs.len(),
                (status, _) => return Err(format!("jobs refused: {status} {}", answer.body)),
            }
        }
        Ok(unfinished)
    }
}

fn jitter(from_ms: u64, to_ms: u64) -> Duration {
    Duration::from_millis(rand::rng().random_range(from_ms..to_ms))
}

/// One learner: a session, then every example lesson requested at once (as tabs of one
/// browser), each followed to READY and then through its plan.
async fn learner(client: ApiClient, first: usize) -> Vec<Outcome> {
    let session = match client.session().await {
        Ok(session) => session,
        Err(err) => {
            return LESSONS
                .into_iter()
                .map(|lesson| Outcome {
                    lesson,
                    id: String::new(),
                    changed: false,
                    killed: false,
                    settled: Err(err.clone()),
                })
                .collect();
        }
    };
    let lessons = LESSONS.into_iter().enumerate().map(|(i, lesson)| {
        follow(
            client.clone(),
            session.clone(),
            lesson,
            plan(first + i, lesson),
        )
    });
    futures::future::join_all(lessons).await
}

async fn follow(client: ApiClient, session: String, lesson: &'static str, plan: Plan) -> Outcome {
    let mut outcome = Outcome {
        lesson,
        id: String::new(),
        changed: false,
        killed: false,
        settled: Ok(()),
    };
    let settled = async {
        outcome.id = client.request(&session, lesson, 0).await?;
        let id = outcome.id.as_str();
        client
            .wait(id, "READY", |status, ll| {
                status == 200 && ll["Status"] == "READY"
            })
            .await?;
        // The front end's heartbeat timer fires whatever the learner is doing; here it
        // fires once the livelesson is READY, with a stage change in flight when there is
        // one (a race that used to deadlock in PostgreSQL).
        match plan {
            Plan::Keep => client.heartbeat(id).await,
            Plan::ChangeStage => {
                let (beat, changed) =
                    tokio::join!(client.heartbeat(id), client.request(&session, lesson, 1));
                beat?;
                let changed = changed?;
                if changed != id {
                    return Err(format!("stage change of {id} answered with {changed}"));
                }
                outcome.changed = true;
                client
                    .wait(id, "READY at stage 1", |status, ll| {
                        status == 200 && ll["Status"] == "READY" && ll["CurrentStage"] == 1
                    })
                    .await
            }
            Plan::Kill => {
                client.heartbeat(id).await?;
                client.kill(id).await?;
                outcome.killed = true;
                client.wait(id, "gone", |status, _| status == 404).await
            }
        }
    }
    .await;
    outcome.settled = settled;
    outcome
}

/// Waits, as an operator would through the admin API, until no job is left unfinished.
async fn drained(client: ApiClient) {
    loop {
        match client.unfinished_jobs().await {
            Ok(0) => return,
            Ok(_) if Instant::now() < client.give_up => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(n) => panic!("{n} jobs still unfinished at the deadline"),
            Err(err) => panic!("{err}"),
        }
    }
}

/// A runtime on a thread of its own, standing in for a separate process. The API and the
/// clients are busy; on the test's runtime they would starve kubesim, whose simulated
/// endpoints answer the workers' reachability probes from that runtime, and turn CPU
/// starvation of one thread into failed livelessons.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn new(name: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("chaos-{name}"))
            .enable_all()
            .build()
            .expect("runtime");
        Self(Some(runtime))
    }

    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.as_ref().expect("running").spawn(future)
    }
}

impl Drop for Runtime {
    /// Without blocking: a runtime dropped the ordinary way from inside the test's own
    /// runtime panics, and would hide the panic that is unwinding.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Names the API's database connections, so that the killer cuts those and no others.
const API_APPLICATION: &str = "chaos-api";

/// What the killer did.
struct Havoc {
    /// Worker processes SIGKILLed, each replaced by a new one.
    kills: usize,
    /// Database connections of the API cut.
    cuts: i64,
    /// The workers alive at the end.
    workers: Vec<ChildWorker>,
}

/// Every 1-2 s, SIGKILLs a random worker process and starts a new one in its place, and
/// cuts the API's database connections, so that requests in flight fail as they do when
/// PostgreSQL restarts or fails over. Runs until stopped, and at least three rounds.
struct Killer {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Havoc>,
}

impl Killer {
    fn start(pool: PgPool, database_url: String, kubesim_url: String) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let spawn = || ChildWorker::spawn(&database_url, &kubesim_url, "");
            let mut havoc = Havoc {
                kills: 0,
                cuts: 0,
                workers: vec![spawn(), spawn(), spawn()],
            };
            loop {
                tokio::select! {
                    () = tokio::time::sleep(jitter(1000, 2000)) => {
                        let victim = rand::rng().random_range(0..havoc.workers.len());
                        havoc.workers[victim].kill();
                        havoc.workers[victim] = spawn();
                        havoc.kills += 1;
                        let cut: i64 = sqlx::query_scalar(
                            "select count(*) filter (where pg_terminate_backend(pid))
                             from pg_stat_activity
                             where datname = current_database() and application_name = $1",
                        )
                        .bind(API_APPLICATION)
                        .fetch_one(&pool)
                        .await
                        .expect("cut the API's connections");
                        havoc.cuts += cut;
                    }
                    _ = &mut stopped, if havoc.kills >= 3 => break,
                }
            }
            havoc
        });
        Self { stop, task }
    }

    /// Stops the havoc; returns what it did.
    async fn stop(self) -> Havoc {
        let _ = self.stop.send(());
        self.task.await.expect("killer")
    }
}

#[sqlx::test]
async fn nothing_is_lost_duplicated_or_leaked_while_workers_are_killed(pool: PgPool) {
    chaos(pool, None).await;
}

/// Spares kept per example lesson in the run with pools on.
const SPARES: i32 = 3;

#[sqlx::test]
async fn with_pools_on_nothing_is_lost_duplicated_or_leaked_and_no_spare_goes_to_two_learners(
    pool: PgPool,
) {
    chaos(pool, Some(SPARES)).await;
}

/// The chaos run; with `spares`, every example lesson keeps that many spares, READY
/// before the learners arrive, taken and refilled during the run.
async fn chaos(pool: PgPool, spares: Option<i32>) {
    let lab = Lab::start(pool.clone()).await;
    let mut prefilled = BTreeSet::new();
    if let Some(spares) = spares {
        apply(
            &pool,
            &PoolSettings {
                lessons: LESSONS.iter().map(|l| (*l, spares)).collect(),
                ..PoolSettings::default()
            },
        )
        .await;
        prefilled.extend(ready_spares(&lab).await);
        assert_eq!(
            prefilled.len(),
            LESSONS.len() * usize::try_from(spares).expect("spares")
        );
    }
    let knobs = lab.sim.knobs();
    knobs.set_error_rate(None, 0.05, InjectedError::Internal);
    knobs.set_latency(Latency::Range(Duration::ZERO, Duration::from_millis(80)));
    let url = database_url(&pool).await;

    // The API as `antidoted api` runs it: its own pool and queue client (whose wake-ups
    // reach the worker processes by NOTIFY), on a runtime of its own.
    // Fifty learners share the loopback address here: the per-address limits, which
    // would count them as one client, are lifted.
    let config = Config {
        backend: lab.settings.clone(),
        admin_token: Secret::new(ADMIN_TOKEN),
        live_session_limit: 0,
        rate_limit: RateLimitSettings {
            per_address_per_minute: 0,
            global_per_second: 0,
            ..RateLimitSettings::default()
        },
        http: HttpSettings {
            max_connections_per_address: 1024,
            ..HttpSettings::default()
        },
        ..Config::default()
    };
    let api_runtime = Runtime::new("api");
    let api_url = format!("{url}?application_name={API_APPLICATION}");
    let api = api_runtime
        .spawn(async move {
            let pool = db::connect(&api_url, config.database_max_connections, None)
                .await
                .expect("API pool");
            ApiServer::start(AppState::new(
                pool.clone(),
                queue::Client::new(pool),
                &config,
            ))
            .await
        })
        .await
        .expect("API starts");
    let killer = Killer::start(pool.clone(), url, lab.sim.url());

    let started = Instant::now();
    let clients_runtime = Runtime::new("clients");
    let client = ApiClient {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client"),
        base: api.base.as_str().into(),
        wire: Arc::default(),
        give_up: started + DEADLINE,
    };
    let learners: Vec<_> = (0..SESSIONS)
        .map(|s| clients_runtime.spawn(learner(client.clone(), s * LESSONS.len())))
        .collect();
    let mut outcomes = Vec::new();
    for learner in learners {
        outcomes.extend(learner.await.expect("learner"));
    }
    // A job completes just after the step that made the state its learner saw, so the
    // operator waits for the queue to drain before the counts are taken.
    clients_runtime
        .spawn(drained(client.clone()))
        .await
        .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
    let Havoc {
        kills,
        cuts,
        workers,
    } = killer.stop().await;
    drop(workers);
    let elapsed = started.elapsed();
    api.stop().await;

    // What the clients were answered: the livelessons, stage changes and kills that must
    // each exist exactly once.
    let requests = outcomes.len();
    let wanted: BTreeMap<&str, &Outcome> = outcomes
        .iter()
        .filter(|o| !o.id.is_empty())
        .map(|o| (o.id.as_str(), o))
        .collect();
    let stage_changes = outcomes.iter().filter(|o| o.changed).count();
    let killed = outcomes.iter().filter(|o| o.killed).count();

    // Lost: a learner that did not see the end it wanted, or a livelesson whose state is
    // not that end (READY at the stage asked for, or gone when killed).
    let rows: Vec<(String, String, i32)> =
        sqlx::query_as("select id, status::text, current_stage from livelessons")
            .fetch_all(&pool)
            .await
            .expect("livelessons");
    let present: BTreeSet<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.settled {
            Ok(()) => None,
            Err(err) => Some(format!("{} {}: {err}", o.lesson, o.id)),
        })
        .collect();
    let mut lost = BTreeSet::new();
    for outcome in &outcomes {
        let state = rows.iter().find(|(id, _, _)| *id == outcome.id);
        let stage = i32::from(outcome.changed);
        let as_wanted = match state {
            None => outcome.killed,
            Some((_, status, current)) => {
                !outcome.killed && status == Status::Ready.as_str() && *current == stage
            }
        };
        if outcome.settled.is_err() || !as_wanted {
            lost.insert((outcome.lesson, outcome.id.as_str()));
        }
    }

    // Duplicated: a namespace twice, or a job that no answered request accounts for: one
    // CREATE per livelesson a client was answered with, one MODIFY per answered stage
    // change, one DELETE per answered kill, however many attempts each took.
    let backend = KubernetesBackend::new(lab.kube.clone(), lab.settings.clone());
    let config = gc::Config {
        orphan_grace: Duration::ZERO,
        ..gc::Config::default()
    };
    let swept = gc::orphans::run_once(&pool, &backend, &config)
        .await
        .expect("sweep");
    let namespaces = backend.list_namespaces().await.expect("namespaces");
    let live: Vec<_> = namespaces.iter().filter(|n| !n.terminating).collect();
    let by_livelesson: BTreeSet<&str> = live.iter().map(|n| n.livelesson_id.as_str()).collect();
    let jobs: Vec<(String, String, i64)> = sqlx::query_as(
        "select kind, args->>'livelesson', count(*) from jobs_all
         where kind like 'livelesson.%' group by 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("jobs");
    // Spares still in the pool: each was made by one CREATE and nothing else.
    let spare_rows: Vec<(String, String)> =
        sqlx::query_as("select id, lesson_slug from livelessons where spare")
            .fetch_all(&pool)
            .await
            .expect("spares");
    let in_pool: BTreeSet<&str> = spare_rows.iter().map(|(id, _)| id.as_str()).collect();
    let surplus: i64 = jobs
        .iter()
        .map(|(kind, id, count)| {
            let expected = match wanted.get(id.as_str()) {
                Some(o) => match kind.as_str() {
                    CREATE => 1,
                    MODIFY => i64::from(o.changed),
                    DELETE => i64::from(o.killed),
                    _ => 0,
                },
                None => i64::from(in_pool.contains(id.as_str()) && kind == CREATE),
            };
            (count - expected).max(0)
        })
        .sum();
    let duplicated = live.len() - by_livelesson.len() + usize::try_from(surplus).expect("count");
    // Leaked: a namespace without state after the GC pass.
    let leaked = by_livelesson
        .iter()
        .filter(|id| !present.contains(**id))
        .count();
    let unfinished: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("jobs");

    // Every claim is followed by a completion, a retry, a rescue, a hand-back or an end.
    let unexplained: i64 = sqlx::query_scalar(
        "select count(*) from job_events c
         where c.kind = 'claimed' and not exists (
             select 1 from job_events f where f.job_id = c.job_id and f.id > c.id
               and f.kind in ('completed', 'retry_scheduled', 'rescued', 'handed_back',
                              'snoozed', 'failed', 'cancelled'))",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    let rescues: i64 = sqlx::query_scalar("select count(*) from job_events where kind = 'rescued'")
        .fetch_one(&pool)
        .await
        .expect("rescues");
    // One livelesson per learner's request: a spare handed to two learners would be one
    // id answered twice (every request is a different session or lesson).
    let answered = outcomes.iter().filter(|o| !o.id.is_empty()).count();
    let handed_twice = answered - wanted.len();
    let hits: i64 = sqlx::query_scalar("select count(*) from livelessons where pool_hit")
        .fetch_one(&pool)
        .await
        .expect("hits");
    let mut per_lesson: BTreeMap<&str, i32> = BTreeMap::new();
    for (_, lesson) in &spare_rows {
        *per_lesson.entry(lesson.as_str()).or_default() += 1;
    }
    let wire = &client.wire;
    let server_errors = wire.server_errors.load(Ordering::Relaxed);
    let unanswered = wire.unanswered.load(Ordering::Relaxed);
    println!(
        "chaos over HTTP: requests {requests}, stage changes {stage_changes}, kills of livelessons {killed}, heartbeats {}, worker SIGKILLs {kills}, restarts {kills}, rescues {rescues}, API database connections cut {cuts}, orphans swept {}, HTTP calls {}, API errors retried {} (5xx {server_errors}, no answer {unanswered}), lost = {}, duplicated = {duplicated}, leaked = {leaked}, unfinished jobs = {unfinished}, unexplained claims = {unexplained}, {:.1} s",
        wire.heartbeats.load(Ordering::Relaxed),
        swept.deleted,
        wire.calls.load(Ordering::Relaxed),
        server_errors + unanswered,
        lost.len(),
        elapsed.as_secs_f64()
    );
    if let Some(spares) = spares {
        println!(
            "pools on: {} spares READY before the run, {hits} learners' labs (still present) taken from a pool, spares at the end {per_lesson:?}, handed to two learners {handed_twice}",
            prefilled.len()
        );
        assert_eq!(handed_twice, 0, "a spare went to two learners");
        assert!(hits > 0, "some requests were pool hits");
        for lesson in LESSONS {
            assert_eq!(
                per_lesson.get(lesson).copied().unwrap_or(0),
                spares,
                "{lesson}: each missing spare was replaced exactly once"
            );
        }
    }
    assert!(failures.is_empty(), "learners failed: {failures:#?}");
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(duplicated, 0, "duplicated");
    assert_eq!(leaked, 0, "leaked");
    assert_eq!(unfinished, 0, "no job is left unfinished");
    assert_eq!(unexplained, 0, "every claim is accounted for");
    assert!(kills >= 3, "workers were killed during the run");
    assert!(
        cuts > 0,
        "the API's database connections were cut during the run"
    );
}
