//! The body of child worker processes on the real control plane; does nothing unless
//! started by [`crate::helpers::ChildWorker::spawn_for`] with `CHILD_KUBECONFIG`.

use std::path::PathBuf;

use antidote_scheduler::queue::Worker;

use crate::harness::ControlPlane;
use crate::lab;

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
