//! The job engine benchmarks' workers (`bench queue`, `workflow` and `soak`): in this
//! process or as child processes of this binary, and the child's side,
//! `antidoted bench queue-worker`.

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use antidote_scheduler::bench::queue::{self as queue_bench, InProcess, Workers};
use antidote_scheduler::db;
use antidote_scheduler::queue::Worker;

#[derive(Debug, clap::Args)]
pub(super) struct WorkerArgs {
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    #[arg(long)]
    tasks: usize,
    #[arg(long)]
    batch: usize,
}

/// Benchmark workers: in this process (`processes = 0`) or as child processes.
pub(super) async fn start_pool(
    database_url: &str,
    processes: usize,
    tasks: usize,
    batch: usize,
) -> Pool {
    if processes == 0 {
        return match db::connect_worker(database_url, 16, None).await {
            Ok(worker_pool) => Pool::InProcess(InProcess::start(worker_pool, tasks, batch)),
            Err(err) => {
                eprintln!("error: connecting the workers: {err}");
                Pool::Processes(Vec::new())
            }
        };
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("error: locating this binary: {err}");
            return Pool::Processes(Vec::new());
        }
    };
    let children = (0..processes)
        .map(|_| {
            tokio::process::Command::new(&exe)
                .args(["bench", "queue-worker"])
                .args(["--tasks", &tasks.to_string()])
                .args(["--batch", &batch.to_string()])
                .env("BENCH_DATABASE_URL", database_url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>();
    match children {
        Ok(children) => Pool::Processes(children.into_iter().map(ChildWorker::start).collect()),
        Err(err) => {
            eprintln!("error: starting worker processes: {err}");
            Pool::Processes(Vec::new())
        }
    }
}

pub(super) enum Pool {
    InProcess(InProcess),
    Processes(Vec<ChildWorker>),
}

/// A benchmark worker process (`bench queue-worker`). It reports its completions on stdout
/// as `completed N` lines while it runs, and its latency samples as `id start_micros`
/// lines when it stops.
pub(super) struct ChildWorker {
    child: tokio::process::Child,
    completed: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<Vec<(i64, i64)>>,
}

impl ChildWorker {
    fn start(mut child: tokio::process::Child) -> Self {
        let completed = Arc::new(AtomicU64::new(0));
        let stdout = child.stdout.take();
        let count = completed.clone();
        let reader = tokio::spawn(async move {
            let mut starts = Vec::new();
            let Some(stdout) = stdout else {
                return starts;
            };
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(n) = line.strip_prefix("completed ") {
                    if let Ok(n) = n.parse() {
                        count.store(n, Ordering::Relaxed);
                    }
                } else if let Some((id, at)) = line.split_once(' ')
                    && let (Ok(id), Ok(at)) = (id.parse(), at.parse())
                {
                    starts.push((id, at));
                }
            }
            starts
        });
        Self {
            child,
            completed,
            reader,
        }
    }
}

impl Workers for Pool {
    fn completed(&self) -> u64 {
        match self {
            Pool::InProcess(workers) => workers.completed(),
            Pool::Processes(children) => children
                .iter()
                .map(|c| c.completed.load(Ordering::Relaxed))
                .sum(),
        }
    }

    async fn stop(self) -> Vec<(i64, i64)> {
        match self {
            Pool::InProcess(workers) => workers.stop().await,
            Pool::Processes(children) => {
                let mut starts = Vec::new();
                for mut worker in children {
                    // Closing stdin asks the worker to shut down gracefully; it then prints
                    // its latency samples.
                    drop(worker.child.stdin.take());
                    let _ = worker.child.wait().await;
                    starts.extend(worker.reader.await.unwrap_or_default());
                }
                starts
            }
        }
    }
}

pub(super) async fn queue_worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let connections = u32::try_from(args.tasks.clamp(4, 16)).unwrap_or(16);
    let pool = db::connect_worker(&args.database_url, connections, None).await?;
    let worker = Worker::new(
        pool,
        queue_bench::registry(),
        queue_bench::worker_config(args.tasks, args.batch),
    );
    let completed = worker.completed();
    let report = tokio::spawn(async move {
        let mut reported = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = completed.get();
            if now != reported {
                reported = now;
                println!("completed {now}");
            }
        }
    });
    worker
        .run(async {
            let mut stdin = tokio::io::stdin();
            let mut sink = [0u8; 64];
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await?;
    report.abort();
    for (id, started) in queue_bench::take_starts() {
        println!("{id} {started}");
    }
    Ok(ExitCode::SUCCESS)
}
