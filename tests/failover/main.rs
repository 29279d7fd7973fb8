//! The failover tier: the scheduler's process (`antidoted serve`) through the faults of a
//! production PostgreSQL, with livelessons being provisioned and learners polling.
//!
//! Each test makes its own primary and synchronous streaming standby from the Debian
//! PostgreSQL 15 binaries in a temporary directory on free loopback ports, puts a TCP
//! proxy of its own in front (the read-write Service address the scheduler is given),
//! runs kubesim, migrates and imports the example curriculum through the proxy with
//! `antidoted`, starts `antidoted serve`, and sends learners: every lesson requested in
//! a few sessions, each livelesson polled until READY. Then a fault lands mid-provisioning:
//!
//! 1. `failover_promote_the_standby_*`: the standby promoted (the primary's synchronous
//!    commits now wait for nobody), the primary stopped (fast), the proxy moved;
//! 2. `failover_read_only_*`: the standby promoted, the old primary restarted in recovery
//!    behind the proxy for 10 s (writes fail with SQLSTATE 25006), then the proxy moves
//!    (open connections cut);
//! 3. `failover_failback_*`: failover, failback, failover again, each the standby
//!    promoted and the proxy moved with open connections cut (those waiting in a commit
//!    on the old primary included); the old primary rejoins as the synchronous standby
//!    of the new one from a fresh base backup each time;
//! 4. `failover_restart_*`: `pg_ctl restart -m fast`, no standby;
//! 5. `failover_sigkill_*`: the postmaster SIGKILLed, started again (crash recovery), no
//!    standby;
//! 6. `failover_promote_while_connections_*_die_silently`: as 3's failover, but the
//!    connections to the old primary stay open and carry nothing more (a peer gone from
//!    the network: no reset, no end), as LISTEN connections die in production.
//!
//! Every scenario then asserts: every requested livelesson READY (none of the example
//! lessons is meant to fail); no job lost (each request has its CREATE job, every job
//! finished), none run twice past a checkpoint (each step's `step_completed` recorded
//! once), none stuck, no periodic slot enqueued twice; writes resumed within 10 s of a
//! writable primary, by the same process (same pid); the wake-up back (idle
//! enqueue-to-start latency under 5 ms, see `audit.rs`) within 15 s; `/readyz` not ready,
//! naming the database, while no writable primary answers, and ready within 10 s after;
//! every `/exp` request answered within 10 s, never with a 5xx other than 503, a 503 with
//! `Retry-After` and the gateway's error body (code 14). It prints one summary line:
//!
//! `failover <scenario>: livelessons N ready N error N lost 0 duplicated 0; writes resumed
//! in S s; wake-up back in S s; API 503 for S s`
//!
//! and, when it fails, every failure with the scheduler's warnings and errors and
//! PostgreSQL's last log lines.
//!
//! Run it with `cargo nextest run -E 'test(failover)' --success-output immediate` (the
//! summary lines of passing scenarios shown) or `cargo test --test failover --
//! --nocapture`. The scenarios run one at a time (a lock file in the temporary
//! directory, so also across nextest's processes), each within about half a minute when
//! it passes (a minute and a half when nothing comes back). PostgreSQL comes from
//! `/usr/lib/postgresql/15/bin` (`ANTIDOTE_FAILOVER_PG_BIN` to change it), run as the
//! `postgres` user when the test runs as root; one `initdb` is kept as a template under
//! the temporary directory. Without the binaries the tests say why and pass;
//! `ANTIDOTE_FAILOVER=require` makes that a failure. `ANTIDOTE_FAILOVER_KEEP=1` keeps each
//! scenario's directory (PostgreSQL data and logs, `antidoted.yaml`, `antidoted.log`);
//! `ANTIDOTE_FAILOVER_LOG` sets `antidoted`'s `RUST_LOG`.

// A test's helpers fail the test on a broken expectation.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod audit;
mod learners;
mod pg;
mod proxy;
mod report;
mod scenario;
mod system;
mod wait;

use scenario::{Fault, Plan};

/// Runs `plan` alone (the tier's lock) on a runtime of its own.
fn run(plan: &Plan) {
    let bins = match pg::Binaries::find() {
        Ok(bins) => bins,
        Err(why) if std::env::var("ANTIDOTE_FAILOVER").as_deref() == Ok("require") => {
            panic!("failover tier required (ANTIDOTE_FAILOVER=require): {why}")
        }
        Err(why) => {
            println!("failover {}: skipped: {why}", plan.name);
            return;
        }
    };
    let lock = std::env::temp_dir().join("antidote-failover.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .expect("the tier's lock file");
    lock.lock().expect("the tier's lock");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(scenario::run(&bins, plan));
    drop(runtime);
    drop(lock);
}

#[test]
fn failover_promote_the_standby_and_move_the_proxy() {
    run(&Plan {
        name: "promote",
        standby: true,
        faults: vec![Fault::Promote],
        learners_per_wave: 4,
    });
}

#[test]
fn failover_read_only_old_primary_for_10s_before_the_proxy_moves() {
    run(&Plan {
        name: "read-only",
        standby: true,
        faults: vec![Fault::ReadOnlyThenPromote],
        learners_per_wave: 4,
    });
}

#[test]
fn failover_failback_then_failover_again() {
    run(&Plan {
        name: "failback",
        standby: true,
        faults: vec![
            Fault::PromoteAndCut,
            Fault::PromoteAndCut,
            Fault::PromoteAndCut,
        ],
        learners_per_wave: 2,
    });
}

// Known gap, not yet survived: the pools' connections to a peer gone silent (no reset,
// no end) hang until the kernel gives up on them, since nothing bounds a statement on the
// client's side and sqlx sets no TCP keepalives; the listener and the liveness connection
// ping theirs and recover. Run it by name with `--ignored`.
#[test]
#[ignore = "known gap: pool connections to a silently vanished server hang (no client-side timeout or keepalive)"]
fn failover_promote_while_connections_to_the_old_primary_die_silently() {
    run(&Plan {
        name: "silent",
        standby: true,
        faults: vec![Fault::PromoteAndSilence],
        learners_per_wave: 4,
    });
}

#[test]
fn failover_restart_postgres_fast_without_standby() {
    run(&Plan {
        name: "restart",
        standby: false,
        faults: vec![Fault::Restart],
        learners_per_wave: 4,
    });
}

#[test]
fn failover_sigkill_postgres_crash_recovery_without_standby() {
    run(&Plan {
        name: "sigkill",
        standby: false,
        faults: vec![Fault::Kill],
        learners_per_wave: 4,
    });
}
