//! The demo's front end: what a learner's browser does, over HTTP (and SSH for the
//! terminal tab). A session, every lesson requested, polled to READY, a terminal opened
//! on one endpoint (a real SSH login with the credentials the API returned), one web page
//! loaded through the presentation proxy, one stage change, one kill. A 503 (the API waited
//! for the database and gave up: a failover or restart outlasted its wait) is sent again
//! after its `Retry-After`, as a learner reloads the page. The operator's view beside it
//! (the step each lesson is at, timings) is read from the database and simply not
//! refreshed while the database is away.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use sqlx::PgPool;

use antidote_scheduler::db;
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::queue::inspect as jobs;
use antidote_scheduler::store::livelesson;
use antidote_scheduler::workflow::serial_key;

use super::progress::{Display, Row};
use super::{terminal, web_page};

/// Poll period of the front end (the original UI polled every 500 ms).
const POLL: Duration = Duration::from_millis(200);

/// One demo run.
pub struct Scenario<'a> {
    /// API base URL.
    pub base: &'a str,
    /// Database, for the step shown beside each lesson (an operator's view).
    pub pool: &'a PgPool,
    /// (lesson slug, stage count).
    pub lessons: &'a [(String, usize)],
    /// Give up after this long.
    pub timeout: Duration,
    /// Progress output.
    pub display: Arc<Display>,
}

#[derive(Debug, Deserialize)]
struct Created {
    #[serde(alias = "ID")]
    id: String,
}

/// What the front end reads of `GET /exp/livelesson/{id}` (zero values are left out of
/// the answer, as the original's gateway left them out).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct View {
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "HealthyTests")]
    healthy: i32,
    #[serde(rename = "TotalTests")]
    total: i32,
    #[serde(rename = "CurrentStage")]
    stage: i32,
}

/// What the terminal tab reads of a READY livelesson: its endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Endpoints {
    #[serde(rename = "LiveEndpoints")]
    endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Endpoint {
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "SSHUser")]
    user: String,
    #[serde(rename = "SSHPassword")]
    password: String,
    #[serde(rename = "LivePresentations")]
    presentations: Vec<Presentation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Presentation {
    #[serde(rename = "Port")]
    port: u16,
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "HepDomain")]
    address: String,
}

/// The command the terminal runs: the sandbox's hostname is the endpoint's name.
const TERMINAL_COMMAND: &str = "hostname";

/// What one tab of the lab page did: the terminal or the web page.
#[derive(Debug)]
struct Tab {
    /// `terminal: ssh` or `web:`.
    kind: &'static str,
    /// Terminal: `user@endpoint of lesson (host:port)`; web page: its URL.
    target: String,
    /// What it showed, or why it showed nothing.
    result: Result<String, String>,
}

/// The gRPC code of `/exp`'s answer for a livelesson that failed.
const FAILED_PRECONDITION: i64 = 9;

/// What happened to one lesson.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Lesson slug.
    pub lesson: String,
    /// Final status (or GONE after a kill).
    pub status: String,
    /// Seconds from the livelesson's creation to its first READY (server clock).
    pub ready_s: Option<f64>,
    /// Steps completed over all of its jobs.
    pub steps: i64,
    /// Stage change or kill, and how long it took.
    pub note: String,
}

/// The demo's result.
#[derive(Debug)]
pub struct Report {
    outcomes: Vec<Outcome>,
    ids: Vec<String>,
    tabs: Vec<Tab>,
}

impl Report {
    /// Every lesson READY, or gone when it was the one killed, the terminal logged in and
    /// the web page loaded.
    pub fn all_good(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| o.status == "READY" || (o.status == "GONE" && o.note.starts_with("killed")))
            && self.tabs.iter().all(|t| t.result.is_ok())
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let width = self
            .outcomes
            .iter()
            .map(|o| o.lesson.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!(
            "{:<width$}  {:<8}  {:>9}  {:>5}  {}\n",
            "lesson", "status", "to READY", "steps", "notes"
        );
        for o in &self.outcomes {
            let ready = o
                .ready_s
                .map_or_else(|| "-".into(), |s| format!("{s:.2} s"));
            let _ = writeln!(
                out,
                "{:<width$}  {:<8}  {:>9}  {:>5}  {}",
                o.lesson, o.status, ready, o.steps, o.note
            );
        }
        for (i, tab) in self.tabs.iter().enumerate() {
            let gap = if i == 0 { "\n" } else { "" };
            let Tab {
                kind,
                target,
                result,
            } = tab;
            let _ = match result {
                Ok(shown) => writeln!(out, "{gap}{kind} {target}: {shown}"),
                Err(why) => writeln!(out, "{gap}{kind} {target}: FAILED: {why}"),
            };
        }
        out
    }
}

impl Scenario<'_> {
    /// Runs the scenario.
    ///
    /// # Errors
    /// When the API refuses a request or answers nonsense.
    pub async fn run(&self) -> anyhow::Result<Report> {
        let http = reqwest::Client::new();
        let session: Created = self
            .send(|| http.post(format!("{}/exp/livesession", self.base)))
            .await
            .context("POST /exp/livesession")?
            .error_for_status()?
            .json()
            .await?;
        let mut ids = Vec::new();
        for (slug, _) in self.lessons {
            let body = serde_json::json!({ "lessonSlug": slug, "sessionId": session.id, "lessonStage": 0 });
            let created: Created = self
                .send(|| {
                    http.post(format!("{}/exp/livelesson", self.base))
                        .json(&body)
                })
                .await
                .with_context(|| format!("requesting {slug}"))?
                .error_for_status()
                .with_context(|| format!("requesting {slug}"))?
                .json()
                .await?;
            ids.push(created.id);
        }
        let mut outcomes: Vec<Outcome> = self
            .lessons
            .iter()
            .map(|(slug, _)| Outcome {
                lesson: slug.clone(),
                status: "INITIALIZED".into(),
                ready_s: None,
                steps: 0,
                note: String::new(),
            })
            .collect();

        // Everything to READY (or ERROR).
        self.wait(&http, &ids, &mut outcomes, |v| {
            v.status == "READY" || v.status == "ERROR"
        })
        .await?;

        // The terminal tab of the first READY lesson with an ssh presentation, and the web
        // tab of the first with an http one.
        let tabs: Vec<Tab> = [
            self.open_terminal(&http, &ids, &outcomes).await?,
            self.open_web_page(&http, &ids, &outcomes).await?,
        ]
        .into_iter()
        .flatten()
        .collect();

        // A stage change on the first READY lesson that has a second stage.
        if let Some(i) =
            (0..ids.len()).find(|&i| outcomes[i].status == "READY" && self.lessons[i].1 > 1)
        {
            let began = Instant::now();
            let body = serde_json::json!({ "lessonSlug": self.lessons[i].0, "sessionId": session.id, "lessonStage": 1 });
            self.send(|| {
                http.post(format!("{}/exp/livelesson", self.base))
                    .json(&body)
            })
            .await?
            .error_for_status()
            .context("changing stage")?;
            let one = [ids[i].clone()];
            let mut slot = vec![outcomes[i].clone()];
            self.wait(&http, &one, &mut slot, |v| {
                v.stage == 1 && (v.status == "READY" || v.status == "ERROR")
            })
            .await?;
            outcomes[i] = slot.remove(0);
            outcomes[i].note = format!("stage 0 -> 1 in {:.2} s", began.elapsed().as_secs_f64());
        }

        // A kill of the first READY lesson without a stage change.
        if let Some(i) =
            (0..ids.len()).find(|&i| outcomes[i].status == "READY" && outcomes[i].note.is_empty())
        {
            let began = Instant::now();
            self.send(|| http.delete(format!("{}/exp/livelesson/{}", self.base, ids[i])))
                .await?
                .error_for_status()
                .context("killing a livelesson")?;
            let deadline = Instant::now() + self.timeout;
            loop {
                let response = self
                    .send(|| http.get(format!("{}/exp/livelesson/{}", self.base, ids[i])))
                    .await?;
                if response.status() == reqwest::StatusCode::NOT_FOUND {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{} was not deleted in time", self.lessons[i].0);
                }
                tokio::time::sleep(POLL).await;
            }
            outcomes[i].status = "GONE".into();
            outcomes[i].note = format!("killed, gone in {:.2} s", began.elapsed().as_secs_f64());
            if let Some((_, steps)) = self.progress(&ids[i]).await? {
                outcomes[i].steps = steps;
            }
        }
        Ok(Report {
            outcomes,
            ids,
            tabs,
        })
    }

    /// The first presentation of type `kind` on an endpoint with a host, in the first
    /// READY lesson that has one: (lesson, endpoint name, endpoint, presentation).
    async fn first_presentation(
        &self,
        http: &reqwest::Client,
        ids: &[String],
        outcomes: &[Outcome],
        kind: &str,
    ) -> anyhow::Result<Option<(String, String, Endpoint, Presentation)>> {
        for (id, outcome) in ids.iter().zip(outcomes) {
            if outcome.status != "READY" {
                continue;
            }
            let view = self.endpoints(http, id).await?;
            let found = view.endpoints.into_iter().find_map(|(name, mut endpoint)| {
                let at = endpoint.presentations.iter().position(|p| p.kind == kind)?;
                let presentation = endpoint.presentations.swap_remove(at);
                (!endpoint.host.is_empty()).then_some((name, endpoint, presentation))
            });
            if let Some((name, endpoint, presentation)) = found {
                return Ok(Some((outcome.lesson.clone(), name, endpoint, presentation)));
            }
        }
        Ok(None)
    }

    /// Opens a terminal on the first ssh presentation of the first READY lesson that has
    /// one, as a learner clicking its tab: an SSH login to the endpoint's host with the
    /// login the API returned, and one command whose answer must be the endpoint's name.
    async fn open_terminal(
        &self,
        http: &reqwest::Client,
        ids: &[String],
        outcomes: &[Outcome],
    ) -> anyhow::Result<Option<Tab>> {
        let Some((lesson, name, endpoint, presentation)) =
            self.first_presentation(http, ids, outcomes, "ssh").await?
        else {
            return Ok(None);
        };
        let port = presentation.port;
        let target = format!(
            "{}@{name} of {lesson} ({}:{port})",
            endpoint.user, endpoint.host
        );
        let result = terminal::run(
            &endpoint.host,
            port,
            &endpoint.user,
            &endpoint.password,
            TERMINAL_COMMAND,
        )
        .await
        .map_err(|e| format!("{e:#}"))
        .and_then(|answer| {
            if answer == name {
                Ok(format!("logged in, `{TERMINAL_COMMAND}` answered {answer}"))
            } else {
                Err(format!(
                    "`{TERMINAL_COMMAND}` answered {answer:?}, not {name}"
                ))
            }
        });
        Ok(Some(Tab {
            kind: "terminal: ssh",
            target,
            result,
        }))
    }

    /// Loads the first http presentation of the first READY lesson that has one, as the
    /// front end's iframe does: `http://<HepDomain>/`, through the presentation proxy. The
    /// page must name the endpoint (kubesim's node agent answers with its name).
    async fn open_web_page(
        &self,
        http: &reqwest::Client,
        ids: &[String],
        outcomes: &[Outcome],
    ) -> anyhow::Result<Option<Tab>> {
        let Some((_, name, _, presentation)) =
            self.first_presentation(http, ids, outcomes, "http").await?
        else {
            return Ok(None);
        };
        let address = presentation.address;
        let result = web_page::load(&address, "/")
            .await
            .map_err(|e| format!("{e:#}"))
            .and_then(|page| {
                if page.contains(name.as_str()) {
                    Ok(format!("loaded {page:?}"))
                } else {
                    Err(format!("the page does not name {name}: {page:?}"))
                }
            });
        Ok(Some(Tab {
            kind: "web:",
            target: format!("http://{address}/"),
            result,
        }))
    }

    /// What the lab page reads of livelesson `id`: its endpoints.
    async fn endpoints(&self, http: &reqwest::Client, id: &str) -> anyhow::Result<Endpoints> {
        Ok(self
            .send(|| http.get(format!("{}/exp/livelesson/{id}", self.base)))
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Kills every livelesson still there and waits until each is gone, so that repeated
    /// demos leave no state behind. Returns how many were deleted.
    ///
    /// # Errors
    /// When the API refuses or a deletion does not finish in time.
    pub async fn clean_up(&self, report: &Report) -> anyhow::Result<usize> {
        let http = reqwest::Client::new();
        let mut deleted = 0;
        for id in &report.ids {
            let url = format!("{}/exp/livelesson/{id}", self.base);
            if self.send(|| http.delete(&url)).await?.status() == reqwest::StatusCode::NOT_FOUND {
                continue;
            }
            deleted += 1;
        }
        let deadline = Instant::now() + self.timeout;
        for id in &report.ids {
            let url = format!("{}/exp/livelesson/{id}", self.base);
            while self.send(|| http.get(&url)).await?.status() != reqwest::StatusCode::NOT_FOUND {
                if Instant::now() > deadline {
                    bail!("livelesson {id} was not deleted in time");
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(deleted)
    }

    /// Sends the request `make` builds, as a learner's browser does: a 503 is sent again
    /// after its `Retry-After` (a reload), until the scenario's timeout.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let response = make().send().await?;
            if response.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE
                || Instant::now() > deadline
            {
                return Ok(response);
            }
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            self.display.note(&format!(
                "the API answered 503; reloading in {} s",
                wait.as_secs()
            ));
            tokio::time::sleep(wait).await;
        }
    }

    /// The step livelesson `id`'s jobs are at and how many they completed (an operator's
    /// view, from the database); `None` while the database is away.
    async fn progress(&self, id: &str) -> anyhow::Result<Option<(Option<String>, i64)>> {
        match jobs::serial_progress(self.pool, &serial_key(&LivelessonId::from(id))).await {
            Ok(progress) => Ok(Some(progress)),
            Err(err) if db::fault::observe(&err).is_some() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Notes livelesson `id`'s time to READY and failure reason in `outcome`: an operator's
    /// view, from the database (learners are told only that the lab failed); left as it
    /// was while the database is away.
    async fn timings(&self, id: &str, outcome: &mut Outcome) -> anyhow::Result<()> {
        let stored = match self.pool.acquire().await {
            Ok(mut conn) => livelesson::get(&mut conn, &LivelessonId::from(id))
                .await
                .map_err(anyhow::Error::from),
            Err(err) => Err(err.into()),
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(err) if db::fault::observe(err.as_ref()).is_some() => return Ok(()),
            Err(err) => return Err(err),
        };
        if let Some(stored) = stored {
            if let (None, Some(ready)) = (outcome.ready_s, stored.ready_at) {
                outcome.ready_s = Some((ready - stored.created_at).as_seconds_f64());
            }
            if let Some(failure) = &stored.error {
                outcome.note = format!(
                    "{} (step {})",
                    failure.reason,
                    failure.step.as_deref().unwrap_or("?")
                );
            }
        }
        Ok(())
    }

    /// One poll of livelesson `id`, as the front end makes it; a failed livelesson (an
    /// error answer) reads as status ERROR.
    async fn poll(&self, http: &reqwest::Client, id: &str) -> anyhow::Result<View> {
        let response = self
            .send(|| http.get(format!("{}/exp/livelesson/{id}", self.base)))
            .await
            .with_context(|| format!("GET /exp/livelesson/{id}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if body["code"].as_i64() != Some(FAILED_PRECONDITION) {
            bail!("GET /exp/livelesson/{id}: {status} {body}");
        }
        Ok(View {
            status: "ERROR".into(),
            ..View::default()
        })
    }

    /// Polls `ids` until `done` holds for each, updating the display.
    async fn wait(
        &self,
        http: &reqwest::Client,
        ids: &[String],
        outcomes: &mut [Outcome],
        done: impl Fn(&View) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut finished = vec![false; ids.len()];
        while finished.iter().any(|f| !f) {
            let mut rows = BTreeMap::new();
            for (i, id) in ids.iter().enumerate() {
                let view = self.poll(http, id).await?;
                let outcome = &mut outcomes[i];
                let step = match self.progress(id).await? {
                    Some((step, steps)) => {
                        outcome.steps = steps;
                        step
                    }
                    None => Some("(database away)".to_owned()),
                };
                self.timings(id, outcome).await?;
                outcome.status.clone_from(&view.status);
                finished[i] = done(&view);
                rows.insert(
                    i,
                    Row {
                        lesson: outcome.lesson.clone(),
                        status: view.status,
                        healthy: view.healthy,
                        total: view.total,
                        step: if finished[i] {
                            String::new()
                        } else {
                            step.unwrap_or_default()
                        },
                    },
                );
            }
            self.display.show(rows.into_values().collect());
            if finished.iter().all(|f| *f) {
                break;
            }
            if Instant::now() > deadline {
                bail!("lessons still not done after {} s", self.timeout.as_secs());
            }
            tokio::time::sleep(POLL).await;
        }
        self.display.finish();
        Ok(())
    }
}
