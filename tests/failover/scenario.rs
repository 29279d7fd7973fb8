//! One scenario from start to end: the lab (PostgreSQL nodes, the proxy, kubesim, the
//! scheduler's process), learners requesting every lesson, faults landing while their
//! livelessons are being provisioned, then the verdict: the audit of the database, the
//! journal of every exchange, the process, and one summary line.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::task::JoinHandle;

use super::audit;
use super::learners::{self, Api, Board, Requested, Ticker};
use super::pg::{Binaries, Node};
use super::proxy::{Move, Proxy};
use super::report::{self, Outage, WAKE_UP_BOUND};
use super::system::{self, Antidoted, INSTANCE_ID, Kubernetes};
use super::wait;

/// Time from a pod's scheduling to its containers running: provisioning a livelesson
/// takes a few seconds, so faults land in the middle of it.
const POD_START_DELAY: Duration = Duration::from_millis(1500);
/// How long the old primary answers read-only before the proxy moves (scenario 2).
const READ_ONLY_FOR: Duration = Duration::from_secs(10);
/// Learners give up on a livelesson not READY this long after the last fault.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Jobs must finish this long after the learners are done.
const DRAIN_WITHIN: Duration = Duration::from_secs(20);

/// A fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The standby promoted (the primary's synchronous commits now wait for a standby
    /// that is gone), the primary stopped (fast), the proxy moved to the new one: the
    /// order of the demo run.
    Promote,
    /// The standby promoted, the proxy moved with its open connections cut (those
    /// waiting in a commit on the old primary included), the old primary stopped.
    PromoteAndCut,
    /// Like [`Fault::PromoteAndCut`], but the connections to the old primary die
    /// silently: they stay open and nothing more comes through them.
    PromoteAndSilence,
    /// The primary stopped and restarted in recovery (read-only) behind the proxy for
    /// [`READ_ONLY_FOR`] while the standby is promoted; then the proxy moves.
    ReadOnlyThenPromote,
    /// `pg_ctl restart -m fast`.
    Restart,
    /// SIGKILL of the postmaster, then a start (crash recovery).
    Kill,
}

/// A scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `<scenario>` of the summary line.
    pub name: &'static str,
    /// A synchronous streaming standby beside the primary.
    pub standby: bool,
    /// The faults, in order; each lands on a new wave of learners' livelessons. With a
    /// standby, the old primary rejoins as the new one's standby after each.
    pub faults: Vec<Fault>,
    /// Learners (sessions) per wave, each requesting every lesson.
    pub learners_per_wave: usize,
}

/// The learners' deadline, moved once the last fault is known.
#[derive(Debug, Clone)]
pub struct Deadline(Arc<Mutex<Instant>>);

impl Deadline {
    fn new(at: Instant) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// The deadline now.
    pub fn get(&self) -> Instant {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, at: Instant) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

/// Everything a scenario runs. Fields drop in order: the scheduler first, the
/// temporary directory last.
pub struct Lab {
    pub t0: Instant,
    pub api: Api,
    pub antidoted: Antidoted,
    kubernetes: Kubernetes,
    proxy: Proxy,
    nodes: Vec<Node>,
    primary: usize,
    /// The evidence was printed (a failure found by the verdict).
    reported: bool,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    /// A panic before the verdict (the harness's own expectations) prints the evidence
    /// too, before the processes and the directory go.
    fn drop(&mut self) {
        if std::thread::panicking() && !self.reported {
            println!("{}", self.evidence());
        }
    }
}

impl Lab {
    async fn start(bins: &Binaries, standby: bool) -> Self {
        let t0 = Instant::now();
        let keep = std::env::var_os("ANTIDOTE_FAILOVER_KEEP").is_some();
        let dir = tempfile::Builder::new()
            .prefix("antidote-failover-")
            .disable_cleanup(keep)
            .tempdir()
            .expect("temporary directory");
        bins.hand_over(dir.path());
        let database = async {
            let mut primary = Node::primary(bins, dir.path(), "a").await;
            primary.start().await;
            let mut nodes = vec![primary];
            if standby {
                let standby = Node::standby_of(bins, dir.path(), "b", &nodes[0]).await;
                nodes[0].require_sync(&standby).await;
                nodes.push(standby);
            }
            nodes
        };
        let (nodes, kubernetes) =
            tokio::join!(database, Kubernetes::start(dir.path(), POD_START_DELAY));
        let proxy = Proxy::start(nodes[0].port);
        let url = format!("postgres://postgres@127.0.0.1:{}/antidote", proxy.port);
        system::run(&["migrate"], &url).await;
        let curriculum = concat!(env!("CARGO_MANIFEST_DIR"), "/example-curriculum");
        system::run(
            &[
                "curriculum",
                "import",
                curriculum,
                "--instance-id",
                INSTANCE_ID,
            ],
            &url,
        )
        .await;
        let antidoted = Antidoted::serve(dir.path(), &url, &kubernetes.kubeconfig).await;
        let api = Api::new(&antidoted.base);
        Self {
            t0,
            api,
            antidoted,
            kubernetes,
            proxy,
            nodes,
            primary: 0,
            reported: false,
            dir,
        }
    }

    /// The `antidote` database on the current primary, for the test's own questions.
    fn primary_url(&self) -> String {
        self.nodes[self.primary].url("antidote")
    }

    /// The lessons, as the front end lists them.
    async fn lessons(&self) -> Vec<String> {
        let answer = self.api.call("setup", "GET", "/exp/lesson", None).await;
        let lessons: Vec<String> = answer.json()["lessons"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|l| l["Slug"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            !lessons.is_empty(),
            "GET /exp/lesson listed no lesson: {}",
            learners::summary(&answer)
        );
        lessons
    }

    /// Waits until every request of a wave is answered with its livelesson and one of
    /// them is being provisioned (BOOTING or CONFIGURATION); says so when the wave is
    /// already READY.
    async fn wait_mid_provisioning(&self, board: &Board, expected: usize) {
        let pool = audit::connect(&self.primary_url()).await;
        let started = Instant::now();
        loop {
            let ids = board.ids();
            let statuses = audit::statuses(&pool, &ids).await;
            let provisioning = statuses.get("BOOTING").copied().unwrap_or(0)
                + statuses.get("CONFIGURATION").copied().unwrap_or(0);
            if ids.len() >= expected && provisioning > 0 {
                println!(
                    "  fault lands {:.1} s after the wave started: livelessons {statuses:?}",
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            if ids.len() >= expected && statuses.get("READY") == Some(&expected) {
                println!("  failover harness: the wave was READY before the fault could land");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "failover harness: a wave's {expected} livelessons were not requested and under way within 60 s (answered {}, {statuses:?})",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pool.close().await;
    }

    /// Inflicts `fault`; returns when it began and when a writable primary answered at
    /// the proxy's address again.
    async fn inflict(&mut self, fault: Fault) -> Outage {
        let old = self.primary;
        // A failover finds requests under way by itself: from the promotion on, the old
        // primary's synchronous commits wait for a standby that is gone. A restart or a
        // crash of a lone server needs one made to wait.
        let (holder, waiting) = if matches!(fault, Fault::Restart | Fault::Kill) {
            self.request_in_flight().await
        } else {
            (None, 0)
        };
        let began = Instant::now();
        let began_wall = SystemTime::now();
        // When the address stopped leading to a server that takes writes, if it did.
        let mut down = None;
        // When the proxy began leading new connections to the new primary: requests may
        // reach it from then on, before the old node has stopped.
        let mut moved = None;
        let what = match fault {
            Fault::Promote => {
                let new = 1 - old;
                self.nodes[new].promote().await;
                self.nodes[new].wait_writable().await;
                down = Some(Instant::now());
                self.nodes[old].stop().await;
                moved = Some(Instant::now());
                let cut = self.proxy.point_to(Some(self.nodes[new].port), Move::Cut);
                self.primary = new;
                format!(
                    "node {} promoted, node {} stopped, proxy moved ({cut} connections cut)",
                    self.nodes[new].name, self.nodes[old].name
                )
            }
            Fault::PromoteAndCut | Fault::PromoteAndSilence => {
                let new = 1 - old;
                self.nodes[new].promote().await;
                self.nodes[new].wait_writable().await;
                let how = if fault == Fault::PromoteAndCut {
                    Move::Cut
                } else {
                    Move::Silent
                };
                moved = Some(Instant::now());
                let ended = self.proxy.point_to(Some(self.nodes[new].port), how);
                self.primary = new;
                self.nodes[old].stop().await;
                format!(
                    "node {} promoted, proxy moved ({ended} connections {}), node {} stopped",
                    self.nodes[new].name,
                    if how == Move::Cut { "cut" } else { "silenced" },
                    self.nodes[old].name
                )
            }
            Fault::ReadOnlyThenPromote => {
                let new = 1 - old;
                self.nodes[new].promote().await;
                self.nodes[new].wait_writable().await;
                down = Some(Instant::now());
                self.nodes[old].restart_read_only().await;
                let read_only = Instant::now();
                // The length of the fault, not a wait for an event.
                tokio::time::sleep_until((read_only + READ_ONLY_FOR).into()).await;
                moved = Some(Instant::now());
                let cut = self.proxy.point_to(Some(self.nodes[new].port), Move::Cut);
                self.primary = new;
                self.nodes[old].stop().await;
                format!(
                    "node {} promoted, node {} restarted read-only behind the proxy for {READ_ONLY_FOR:?}, proxy moved ({cut} connections cut)",
                    self.nodes[new].name, self.nodes[old].name
                )
            }
            Fault::Restart => {
                down = Some(began);
                self.nodes[old].restart().await;
                self.nodes[old].wait_writable().await;
                "pg_ctl restart -m fast".to_owned()
            }
            Fault::Kill => {
                down = Some(began);
                self.nodes[old].kill_postmaster().await;
                self.nodes[old].start().await;
                self.nodes[old].wait_writable().await;
                "postmaster SIGKILLed, started again (crash recovery)".to_owned()
            }
        };
        let mut writable = moved.unwrap_or_else(Instant::now);
        if matches!(fault, Fault::Restart | Fault::Kill) {
            // The server took writes from the moment it was ready, a little before this
            // test's own write went through: its log tells when.
            if let Some(ready) = self.nodes[old].ready_since(began_wall)
                && let Ok(after) = ready.duration_since(began_wall)
            {
                writable = writable.min(began + after);
            }
        }
        let waiting = if holder.is_some() {
            format!(" ({waiting} requests waiting on the test's lock)")
        } else {
            String::new()
        };
        println!(
            "  fault at +{:.1} s{waiting}: {what}; writable primary at the proxy again after {:.1} s",
            began.duration_since(self.t0).as_secs_f64(),
            writable.duration_since(began).as_secs_f64()
        );
        Outage {
            what,
            began,
            writable,
            unwritable: down.map(|down| (down, writable)),
            wake_up: None,
        }
    }

    /// Makes sure a restart or crash lands on a request under way inside PostgreSQL, as
    /// every failure of the runs did (a commit cut, a read terminated): a
    /// transaction of the test's holds a lock on `livesessions`, so that the writer's next
    /// `POST /exp/livesession` waits on it, until the fault (which follows at once) ends
    /// it. Returns the holder's connection and how many backends wait on a lock.
    async fn request_in_flight(&self) -> (Option<PgConnection>, i64) {
        let url = self.primary_url();
        let Ok(mut holder) = PgConnection::connect(&url).await else {
            return (None, 0);
        };
        sqlx::raw_sql("begin; lock table livesessions in share row exclusive mode")
            .execute(&mut holder)
            .await
            .expect("lock livesessions");
        let pool = audit::connect(&url).await;
        let mut waiting = 0;
        let waited = wait::until_or(Duration::from_secs(5), || {
            let pool = pool.clone();
            async move {
                let n: i64 = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity
                     where datname = current_database() and wait_event_type = 'Lock'",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
                n > 0
            }
        })
        .await;
        if waited {
            waiting = sqlx::query_scalar(
                "select count(*) from pg_stat_activity
                 where datname = current_database() and wait_event_type = 'Lock'",
            )
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        } else {
            println!("  failover harness: no request waited on the lock within 5 s");
        }
        pool.close().await;
        (Some(holder), waiting)
    }

    /// The old primary rejoins as the synchronous standby of the new one (a fresh base
    /// backup), ready for the next failover.
    async fn rejoin(&mut self) {
        let new = self.primary;
        let old = 1 - new;
        let (first, second) = self.nodes.split_at_mut(1);
        let (old_node, new_node) = if old == 0 {
            (&mut first[0], &second[0])
        } else {
            (&mut second[0], &first[0])
        };
        old_node.rebase_on(new_node).await;
        new_node.require_sync(old_node).await;
    }

    /// What to print when the scenario failed: the scheduler's warnings and errors,
    /// PostgreSQL's last lines, and where everything is.
    fn evidence(&self) -> String {
        let mut text = String::new();
        text.push_str(
            "--- antidoted warnings and errors (errors first, each message once, at most 30):\n",
        );
        for line in self.antidoted.complaints(30) {
            text.push_str(&line);
            text.push('\n');
        }
        for node in &self.nodes {
            let _ = writeln!(
                text,
                "--- postgres node {} (port {}), last lines of {}:\n{}",
                node.name,
                node.port,
                node.log().display(),
                node.log_tail(12)
            );
        }
        let _ = writeln!(
            text,
            "--- logs under {} (kept with ANTIDOTE_FAILOVER_KEEP=1); kubesim kubeconfig {}; {} proxy connections cut",
            self.dir.path().display(),
            self.kubernetes.kubeconfig.display(),
            self.proxy.cut()
        );
        text
    }
}

/// Runs `plan` and prints its summary line; panics with every failure found.
pub async fn run(bins: &Binaries, plan: &Plan) {
    let mut lab = Lab::start(bins, plan.standby).await;
    let pid = lab.antidoted.pid;
    println!(
        "  lab up in {:.1} s: antidoted pid {pid} at {}",
        lab.t0.elapsed().as_secs_f64(),
        lab.antidoted.base
    );
    // The probe must see wake-ups before any fault, or it could judge nothing after.
    let baseline = audit::wake_up(&lab.primary_url(), Instant::now(), WAKE_UP_BOUND).await;
    assert!(
        baseline.back.is_some(),
        "failover harness: before any fault, idle enqueue-to-start latency never stayed within {} ms: {}",
        audit::WOKEN.as_millis(),
        baseline.describe()
    );
    let lessons = lab.lessons().await;
    let writer = Ticker::start(
        lab.api.clone(),
        "writer",
        "POST",
        "/exp/livesession",
        Duration::from_millis(250),
    );
    let readyz = Ticker::start(
        lab.api.clone(),
        "readyz",
        "GET",
        "/readyz",
        Duration::from_millis(250),
    );
    let deadline = Deadline::new(Instant::now() + Duration::from_secs(600));
    let mut waves: Vec<JoinHandle<Vec<Requested>>> = Vec::new();
    let mut outages: Vec<Outage> = Vec::new();
    for (k, fault) in plan.faults.iter().enumerate() {
        let board = Arc::new(Board::default());
        for s in 0..plan.learners_per_wave {
            waves.push(tokio::spawn(learners::learner(
                lab.api.clone(),
                format!("learner {}.{}", k + 1, s + 1),
                lessons.clone(),
                board.clone(),
                deadline.clone(),
            )));
        }
        lab.wait_mid_provisioning(&board, plan.learners_per_wave * lessons.len())
            .await;
        let mut outage = lab.inflict(*fault).await;
        outage.wake_up =
            Some(audit::wake_up(&lab.primary_url(), outage.writable, WAKE_UP_BOUND).await);
        let writable = outage.writable;
        outages.push(outage);
        if plan.standby && k + 1 < plan.faults.len() {
            lab.rejoin().await;
        }
        deadline.set(writable + READY_WITHIN);
    }
    let mut requested = Vec::new();
    for wave in waves {
        requested.extend(wave.await.expect("learner"));
    }
    writer.stop().await;
    readyz.stop().await;
    let end = Instant::now();

    let mut failures = Vec::new();
    let pool = audit::connect(&lab.primary_url()).await;
    let audit = audit::audit(&pool, &requested, DRAIN_WITHIN).await;
    pool.close().await;
    match lab.antidoted.exited() {
        Some(status) => failures.push(format!(
            "antidoted (pid {pid}) exited during the run ({status}): {}",
            lab.antidoted.log_tail(20)
        )),
        None => assert_eq!(lab.antidoted.pid, pid),
    }
    let journal = lab.api.journal.all();
    let log = lab.antidoted.log_lines();
    let figures = report::judge(&journal, &outages, &log, lab.t0, end, &mut failures);
    for lost in audit.lost.lines() {
        failures.push(format!("lost: {lost}"));
    }
    for duplicated in &audit.duplicated {
        failures.push(format!("duplicated: {duplicated}"));
    }
    for stuck in audit.stuck.lines() {
        failures.push(format!("stuck: {stuck}"));
    }
    // No lesson of the example curriculum is meant to fail.
    for error in &audit.errors {
        failures.push(format!("livelesson in ERROR: {error}"));
    }

    println!(
        "failover {}: livelessons {} ready {} error {} lost {} duplicated {}; writes resumed in {} s; wake-up back in {} s; API 503 for {:.1} s",
        plan.name,
        audit.requested,
        audit.ready,
        audit.error,
        audit.requested.saturating_sub(audit.ready + audit.error),
        audit.duplicated.len(),
        report::worst(&figures.writes_resumed),
        report::worst(&figures.wake_up_back),
        figures.api_503.as_secs_f64()
    );
    println!(
        "  ran {:.1} s; baseline wake-up {}; answers {:?}",
        lab.t0.elapsed().as_secs_f64(),
        baseline.describe(),
        figures.statuses
    );
    if !failures.is_empty() {
        let list = failures
            .iter()
            .map(|f| format!("  - {f}"))
            .collect::<Vec<_>>()
            .join("\n");
        println!("{list}\n{}", lab.evidence());
        lab.reported = true;
        panic!(
            "failover {}: {} failures:\n{list}",
            plan.name,
            failures.len()
        );
    }
}
