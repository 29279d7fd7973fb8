//! PostgreSQL nodes made from the Debian binaries in the scenario's temporary directory: a
//! primary, a streaming standby with synchronous replication, promotion, fast stops,
//! SIGKILL of the postmaster, restarts, and a fresh base backup to turn an old primary
//! into the standby of the new one.
//!
//! initdb and postgres refuse to run as root: as root, every PostgreSQL command runs as
//! the `postgres` user (`runuser`), in directories that user owns.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::process::Command;

use super::wait;

/// Where Debian installs PostgreSQL 15.
pub const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The PostgreSQL binaries and the user that runs them.
#[derive(Debug, Clone)]
pub struct Binaries {
    bin: PathBuf,
    /// `(uid, gid)` of `postgres` when this process is root; `None` otherwise.
    run_as: Option<(u32, u32)>,
}

impl Binaries {
    /// The binaries of `ANTIDOTE_FAILOVER_PG_BIN` (default [`DEFAULT_BIN`]), or why they
    /// cannot be used.
    pub fn find() -> Result<Self, String> {
        let bin = PathBuf::from(
            std::env::var("ANTIDOTE_FAILOVER_PG_BIN").unwrap_or_else(|_| DEFAULT_BIN.into()),
        );
        for tool in ["initdb", "pg_ctl", "pg_basebackup", "postgres"] {
            if !bin.join(tool).is_file() {
                return Err(format!(
                    "no {tool} in {} (install Debian's postgresql-15, or set ANTIDOTE_FAILOVER_PG_BIN)",
                    bin.display()
                ));
            }
        }
        let run_as = if effective_uid() == Some(0) {
            let id = |flag: &str| -> Result<u32, String> {
                let out = std::process::Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .map_err(|e| format!("running id: {e}"))?;
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .map_err(|_| "running as root and there is no `postgres` user".to_owned())
            };
            Some((id("-u")?, id("-g")?))
        } else {
            None
        };
        Ok(Self { bin, run_as })
    }

    /// A command running PostgreSQL's `tool`, as `postgres` when this process is root.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if self.run_as.is_some() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        // Never the caller's PG* settings: every connection parameter is given.
        for var in [
            "PGHOST",
            "PGPORT",
            "PGDATABASE",
            "PGUSER",
            "PGDATA",
            "PGOPTIONS",
        ] {
            command.env_remove(var);
        }
        command
            .current_dir("/")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `tool` with `args`; panics with its output when it fails or outlasts `within`.
    async fn run(&self, tool: &str, args: &[&str], within: Duration) -> String {
        let mut command = self.command(tool);
        command.args(args);
        let output = tokio::time::timeout(within, command.output())
            .await
            .unwrap_or_else(|_| panic!("{tool} {args:?} did not finish within {within:?}"))
            .unwrap_or_else(|e| panic!("starting {tool}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "{tool} {args:?} failed ({}): {text}",
            output.status
        );
        text
    }

    /// Gives `path` to the user that runs PostgreSQL.
    pub fn hand_over(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
        }
    }

    /// A pristine `initdb` output (trust authentication, UTF-8, C locale), made once per
    /// machine under the temporary directory and copied for each node: initdb takes
    /// seconds on a busy machine. Callers hold the tier's lock.
    async fn template(&self) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "antidote-failover-initdb-{}",
            self.bin
                .to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        if root.join("data/PG_VERSION").is_file() {
            return root.join("data");
        }
        let _ = std::fs::remove_dir_all(&root);
        let making = root.with_extension("making");
        let _ = std::fs::remove_dir_all(&making);
        std::fs::create_dir_all(&making).expect("template directory");
        self.hand_over(&making);
        let data = making.join("data");
        self.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            Duration::from_secs(120),
        )
        .await;
        std::fs::rename(&making, &root).expect("template in place");
        root.join("data")
    }
}

/// The effective uid of this process, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// A free TCP port on 127.0.0.1 (bound and released: PostgreSQL binds it next; a start
/// that loses the race is retried on another).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Settings every node gets, whatever its role: streaming replication, synchronous
/// commits, hot standby, logs that name the client.
const CONF: &str = "
listen_addresses = '127.0.0.1'
max_connections = 200
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
synchronous_commit = on
wal_sender_timeout = '5s'
wal_receiver_status_interval = '1s'
log_line_prefix = '%m [%p] %a '
log_timezone = 'UTC'
log_min_messages = warning
log_connections = off
";

/// One PostgreSQL node: its data directory, port and log.
#[derive(Debug)]
pub struct Node {
    /// `a` or `b`; the standby's `application_name` is `node_<name>`.
    pub name: &'static str,
    bins: Binaries,
    root: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    running: bool,
}

impl Node {
    fn new(bins: &Binaries, root: &Path, name: &'static str) -> Self {
        let root = root.join(format!("pg-{name}"));
        std::fs::create_dir_all(&root).expect("node directory");
        bins.hand_over(&root);
        Self {
            name,
            bins: bins.clone(),
            root,
            port: free_port(),
            running: false,
        }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server log.
    pub fn log(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// The `application_name` this node streams with as a standby.
    pub fn application_name(&self) -> String {
        format!("node_{}", self.name)
    }

    /// A URL of database `database` on this node (trust authentication).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new primary from the initdb template.
    pub async fn primary(bins: &Binaries, root: &Path, name: &'static str) -> Self {
        let node = Self::new(bins, root, name);
        let template = bins.template().await;
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(node.data())
            .status()
            .expect("cp");
        assert!(copied.success(), "copying the initdb template");
        node.append_conf(CONF);
        node
    }

    /// A new standby of `primary`, streaming from it (a base backup with `-R`), started.
    /// Not yet synchronous: see [`Node::require_sync`].
    pub async fn standby_of(
        bins: &Binaries,
        root: &Path,
        name: &'static str,
        primary: &Node,
    ) -> Self {
        let mut node = Self::new(bins, root, name);
        node.rebase_on(primary).await;
        node
    }

    /// Replaces this node's data with a fresh base backup of `primary` and starts it as
    /// its streaming standby (how an old primary rejoins after a failover).
    pub async fn rebase_on(&mut self, primary: &Node) {
        if self.running {
            self.stop().await;
        }
        let _ = std::fs::remove_dir_all(self.data());
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres application_name={}",
            primary.port,
            self.application_name()
        );
        self.bins
            .run(
                "pg_basebackup",
                &[
                    "-d",
                    &conninfo,
                    "-D",
                    &self.data().to_string_lossy(),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
                Duration::from_secs(120),
            )
            .await;
        // Later lines win: the conninfo this test controls, and no synchronous standby of
        // its own while it is one (the primary's setting came with the copy).
        self.append_auto_conf(&format!(
            "primary_conninfo = '{conninfo}'\nsynchronous_standby_names = ''\n"
        ));
        self.start().await;
    }

    fn append_conf(&self, text: &str) {
        append(&self.data().join("postgresql.conf"), text);
    }

    fn append_auto_conf(&self, text: &str) {
        append(&self.data().join("postgresql.auto.conf"), text);
    }

    /// Starts the server and waits until it accepts connections (read-only ones, for a
    /// standby). A start that loses its port to another process is retried on a new one.
    pub async fn start(&mut self) {
        for attempt in 0..3 {
            let options = format!("-p {} -k {}", self.port, self.root.display());
            let mut command = self.bins.command("pg_ctl");
            command.args(["-D", &self.data().to_string_lossy()]).args([
                "-l",
                &self.log().to_string_lossy(),
                "-w",
                "-t",
                "120",
                "-o",
                &options,
                "start",
            ]);
            let output = command.output().await.expect("pg_ctl start");
            if output.status.success() {
                self.running = true;
                return;
            }
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            if attempt < 2 && log.contains("could not bind") {
                eprintln!(
                    "failover harness: port {} of node {} was taken; retrying on another",
                    self.port, self.name
                );
                self.port = free_port();
                continue;
            }
            panic!(
                "pg_ctl start of node {} failed: {}{}\n--- its log:\n{}",
                self.name,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                tail(&log, 30)
            );
        }
    }

    /// Fast shutdown (`pg_ctl stop -m fast`): clients are disconnected, a standby gets
    /// the last WAL before the primary exits.
    pub async fn stop(&mut self) {
        self.bins
            .run(
                "pg_ctl",
                &[
                    "-D",
                    &self.data().to_string_lossy(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                Duration::from_secs(60),
            )
            .await;
        self.running = false;
    }

    /// `pg_ctl restart -m fast`.
    pub async fn restart(&mut self) {
        let options = format!("-p {} -k {}", self.port, self.root.display());
        self.bins
            .run(
                "pg_ctl",
                &[
                    "-D",
                    &self.data().to_string_lossy(),
                    "-l",
                    &self.log().to_string_lossy(),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "120",
                    "-o",
                    &options,
                    "restart",
                ],
                Duration::from_secs(150),
            )
            .await;
        self.running = true;
    }

    /// SIGKILL to the postmaster alone, as the OOM killer sends it; returns once every
    /// process it had started is gone, so that the next start runs crash recovery (a
    /// start beside a live orphaned backend is refused).
    pub async fn kill_postmaster(&mut self) {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .expect("postmaster.pid of a running node");
        let pid: u32 = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("the postmaster's pid");
        let children = children_of(pid);
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success(), "kill -KILL {pid}");
        self.running = false;
        wait::until(
            Duration::from_secs(30),
            &format!(
                "the postmaster {pid} of node {} and its {} processes to exit",
                self.name,
                children.len()
            ),
            || {
                let done = children.iter().all(|p| gone(*p)) && gone(pid);
                async move { done }
            },
        )
        .await;
        // A postmaster that is dead but not yet reaped (by init, its parent) still looks
        // alive to the next start through its lock file. Reaping is init's business;
        // once every process is dead, the stale lock file is removed as an operator
        // would.
        let reaped = wait::until_or(Duration::from_secs(5), || {
            let reaped = !Path::new(&format!("/proc/{pid}")).exists();
            async move { reaped }
        })
        .await;
        if !reaped {
            eprintln!(
                "failover harness: the killed postmaster {pid} is not reaped yet; removing its postmaster.pid"
            );
            let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
        }
    }

    /// Promotes this standby (`pg_ctl promote`), waits until it leaves recovery, and
    /// takes away the synchronous standby it may have inherited: a primary alone must
    /// not wait for a standby that is not there (what Patroni and CloudNativePG do when
    /// no replica is available).
    pub async fn promote(&mut self) {
        self.bins
            .run(
                "pg_ctl",
                &["-D", &self.data().to_string_lossy(), "-w", "promote"],
                Duration::from_secs(60),
            )
            .await;
        let url = self.url("postgres");
        wait::until(
            Duration::from_secs(30),
            &format!("node {} to leave recovery", self.name),
            || {
                let url = url.clone();
                async move {
                    let Ok(mut conn) = PgConnection::connect(&url).await else {
                        return false;
                    };
                    let in_recovery: Result<bool, _> =
                        sqlx::query_scalar("select pg_is_in_recovery()")
                            .fetch_one(&mut conn)
                            .await;
                    matches!(in_recovery, Ok(false))
                }
            },
        )
        .await;
        self.set_sync_standby("").await;
    }

    /// Sets `synchronous_standby_names` (ALTER SYSTEM, reload).
    pub async fn set_sync_standby(&self, names: &str) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "alter system set synchronous_standby_names = '{names}'"
        )))
        .execute(&mut conn)
        .await
        .expect("alter system");
        sqlx::query("select pg_reload_conf()")
            .execute(&mut conn)
            .await
            .expect("reload");
    }

    /// Makes `standby` (streaming from this node) its synchronous standby, and waits
    /// until the primary reports it `sync`.
    pub async fn require_sync(&self, standby: &Node) {
        let name = standby.application_name();
        self.set_sync_standby(&name).await;
        let url = self.url("postgres");
        wait::until(
            Duration::from_secs(60),
            &format!(
                "node {} to stream synchronously from node {}",
                standby.name, self.name
            ),
            || {
                let (url, name) = (url.clone(), name.clone());
                async move {
                    let Ok(mut conn) = PgConnection::connect(&url).await else {
                        return false;
                    };
                    let state: Option<String> = sqlx::query_scalar(
                        "select sync_state from pg_stat_replication where application_name = $1 and state = 'streaming'",
                    )
                    .bind(&name)
                    .fetch_optional(&mut conn)
                    .await
                    .ok()
                    .flatten();
                    state.as_deref() == Some("sync")
                }
            },
        )
        .await;
    }

    /// Stops this node and starts it again in recovery (`standby.signal`, nothing to
    /// stream from): it answers reads, and every write fails with SQLSTATE 25006.
    pub async fn restart_read_only(&mut self) {
        if self.running {
            self.stop().await;
        }
        std::fs::write(self.data().join("standby.signal"), "").expect("standby.signal");
        self.bins.hand_over(&self.data().join("standby.signal"));
        self.append_auto_conf("primary_conninfo = ''\n");
        self.start().await;
    }

    /// A connection to database `postgres`, retried for a while.
    pub async fn connect(&self) -> PgConnection {
        let url = self.url("postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match PgConnection::connect(&url).await {
                Ok(conn) => return conn,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("connecting to node {}: {err}", self.name),
            }
        }
    }

    /// Waits until a transaction with a transaction id commits here (so: a writable
    /// primary whose synchronous standby, if it names one, acknowledges).
    pub async fn wait_writable(&self) {
        let url = self.url("postgres");
        wait::until(
            Duration::from_secs(30),
            &format!("node {} to commit a write", self.name),
            || {
                let url = url.clone();
                async move {
                    let Ok(mut conn) = PgConnection::connect(&url).await else {
                        return false;
                    };
                    tokio::time::timeout(
                        Duration::from_secs(5),
                        sqlx::query("select txid_current()").execute(&mut conn),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok())
                }
            },
        )
        .await;
    }

    /// When the server last logged that it is ready to accept connections (read-write)
    /// at or after `since`, from its log's millisecond timestamps.
    pub fn ready_since(&self, since: SystemTime) -> Option<SystemTime> {
        let since = DateTime::<Utc>::from(since);
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with("database system is ready to accept connections"))
            .filter_map(|l| {
                let stamp = l.get(..23)?;
                let at = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.3f")
                    .ok()?
                    .and_utc();
                (at >= since - chrono::Duration::milliseconds(1)).then_some(at)
            })
            .min()
            .map(SystemTime::from)
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(
            &std::fs::read_to_string(self.log()).unwrap_or_default(),
            lines,
        )
    }
}

impl Drop for Node {
    /// Stops the server at once (the temporary directory goes next).
    fn drop(&mut self) {
        if self.running || self.data().join("postmaster.pid").exists() {
            let mut command = std::process::Command::new(if self.bins.run_as.is_some() {
                "runuser".into()
            } else {
                self.bins.bin.join("pg_ctl")
            });
            if self.bins.run_as.is_some() {
                command
                    .args(["-u", "postgres", "--"])
                    .arg(self.bins.bin.join("pg_ctl"));
            }
            let _ = command
                .args(["-D", &self.data().to_string_lossy()])
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.write_all(text.as_bytes()).expect("append");
}

/// The direct children of process `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| parent_of(*p) == Some(pid))
        .collect()
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Whether process `pid` has exited (gone, or a zombie).
fn gone(pid: u32) -> bool {
    stat_fields(pid).is_none_or(|f| f.first().is_some_and(|s| s == "Z"))
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
