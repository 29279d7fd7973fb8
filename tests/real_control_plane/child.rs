//! The body of child worker processes; does nothing unless started by [`ChildWorker`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use antidote_scheduler::queue::Worker;

use crate::harness::ControlPlane;
use crate::lab;

/// A worker in a child process (this test binary re-executed into `child::worker`) that
/// stops dead after the checkpoint of step `crash_at`, after telling the parent.
pub struct ChildWorker(Child);

impl ChildWorker {
    pub fn spawn(database_url: &str, kubeconfig: &Path, crash_at: &str) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let child = Command::new(exe)
            .args([
                "--exact",
                "child::worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ANTIDOTE_CHILD_WORKER", "1")
            .env("CHILD_DATABASE_URL", database_url)
            .env("CHILD_KUBECONFIG", kubeconfig)
            .env("CHILD_CRASH_AT", crash_at)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child worker");
        Self(child)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn worker() {
    if std::env::var("ANTIDOTE_CHILD_WORKER").is_err() {
        return;
    }
    let env = |key: &str| std::env::var(key).unwrap_or_else(|_| panic!("{key} is set"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&env("CHILD_DATABASE_URL"))
            .await
            .expect("child connects");
        let kube = ControlPlane::client_from(&PathBuf::from(env("CHILD_KUBECONFIG"))).await;
        let settings = lab::settings();
        let mut config = crate::helpers::worker_config();
        config.lease = std::time::Duration::from_millis(1000);
        config.heartbeat = std::time::Duration::from_millis(300);
        config.step_hook = Some(crate::helpers::crash_hook(
            pool.clone(),
            env("CHILD_CRASH_AT"),
        ));
        let worker = Worker::new(pool, crate::helpers::registry(kube, &settings), config);
        worker
            .run(futures::future::pending::<()>())
            .await
            .expect("worker runs");
    });
}
