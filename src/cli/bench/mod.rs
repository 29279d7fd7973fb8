//! `antidoted bench`: benchmarks that print numbers and end with one JSON line.
//!
//! The subcommands and their dispatch; each benchmark's arguments and command line are in
//! its own file, the processes that benchmarks start of this binary in `workers`
//! (`bench queue-worker`) and `lessons_children` (`bench lessons-worker` and
//! `bench lessons-agent`).

mod class;
mod compare;
mod database;
mod demo_memory;
mod gc;
mod lessons;
mod lessons_children;
mod pool;
mod queue;
mod soak;
mod terminals;
mod ui;
mod workers;
mod workflow;

use std::process::ExitCode;

use class::ClassArgs;
use compare::CompareArgs;
use demo_memory::DemoMemoryArgs;
use gc::GcArgs;
use lessons::LessonsArgs;
use lessons_children::{LessonsAgentArgs, LessonsWorkerArgs};
use pool::PoolArgs;
use queue::QueueArgs;
use soak::SoakArgs;
use terminals::TerminalsArgs;
use ui::UiArgs;
use workers::WorkerArgs;
use workflow::WorkflowArgs;

/// Arguments of `antidoted bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, clap::Subcommand)]
enum Bench {
    /// Job engine: enqueue rates, no-op throughput across worker processes, idle latency.
    Queue(QueueArgs),
    /// Job engine: three-step checkpointed no-op workflows per second.
    Workflow(WorkflowArgs),
    /// Job engine: a burn-down at a steady arrival rate with a REPEATABLE READ transaction
    /// held open in the middle (vacuum pinned); throughput per window, table sizes.
    Soak(SoakArgs),
    /// Provisioning: N livelessons to READY on an embedded kubesim; cost per livelesson.
    Lessons(LessonsArgs),
    /// Garbage collection: one expiry pass over many livelessons, some expired.
    Gc(GcArgs),
    /// Warm pools: learners arriving at a steady rate on a kubesim whose pods take 30 s
    /// to start, without and with pools; time to READY of hits and misses.
    Pool(PoolArgs),
    /// A class: N learners opening one lesson within seconds through the real HTTP API
    /// (`antidoted api` and `antidoted worker` processes, each learner from its own
    /// loopback address, polling every 500 ms), with or without pools, pods taking 30 s to
    /// start; time to READY, API latency, errors, cost per learner.
    Class(ClassArgs),
    /// antidoted beside the peer queues of `../shared/peers` (graphile_worker, apalis,
    /// underway, graphile-worker for Node), back to back on fresh databases; peers whose
    /// harness is absent are skipped.
    Compare(CompareArgs),
    /// Terminals: many learners typing at once through one terminal gateway (a real
    /// `antidoted api` process, socket.io-client 2.x terminals, kubesim's SSH);
    /// keystroke-to-echo latency, gateway CPU and memory per terminal.
    Terminals(TerminalsArgs),
    /// Memory: a real `antidoted demo` process's resident memory over many livelesson
    /// create/delete cycles driven over its API.
    DemoMemory(DemoMemoryArgs),
    /// Dashboard: latency of every page over a long history of finished jobs, and the
    /// plans of the job list's filters.
    Ui(UiArgs),
    /// One benchmark worker process (started by `bench queue`; stops when stdin closes).
    #[command(hide = true)]
    QueueWorker(WorkerArgs),
    /// The worker process of `bench lessons` (started by it; answers on stdout, stops
    /// when stdin closes).
    #[command(hide = true)]
    LessonsWorker(LessonsWorkerArgs),
    /// A node agent process of `bench lessons` (started by it; says `ready` on stdout,
    /// stops when stdin closes).
    #[command(hide = true)]
    LessonsAgent(LessonsAgentArgs),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.bench {
        Bench::Queue(args) => queue::run(args).await,
        Bench::Workflow(args) => workflow::run(args).await,
        Bench::Soak(args) => soak::run(args).await,
        Bench::Gc(args) => gc::run(args).await,
        Bench::Pool(args) => pool::run(args).await,
        Bench::Class(args) => class::run(args).await,
        Bench::Compare(args) => compare::run(args).await,
        Bench::DemoMemory(args) => demo_memory::run(args).await,
        Bench::Ui(args) => ui::run(args).await,
        Bench::Terminals(args) => terminals::run(args).await,
        Bench::Lessons(args) => lessons::run(args).await,
        Bench::QueueWorker(args) => workers::queue_worker(args).await,
        Bench::LessonsWorker(args) => lessons_children::lessons_worker(args).await,
        Bench::LessonsAgent(args) => lessons_children::lessons_agent(args).await,
    }
}
