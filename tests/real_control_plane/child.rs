//! The body of child worker processes on the real control plane; does nothing unless
//! started by [`crate::helpers::ChildWorker::spawn_for`] with `CHILD_KUBECONFIG`.

use std::path::PathBuf;

use antidote_scheduler::queue::Worker;

use crate::harness::ControlPlane;
use crate::lab;

#[path = "../support/child.rs"]
mod support;

#[test]
fn worker() {
    support::run_child(|pool| async move {
        let kube =
            ControlPlane::client_from(&PathBuf::from(support::env("CHILD_KUBECONFIG"))).await;
        let settings = lab::settings();
        let mut config = crate::helpers::worker_config();
        config.lease = std::time::Duration::from_millis(1000);
        config.heartbeat = std::time::Duration::from_millis(300);
        config.step_hook = Some(crate::helpers::crash_hook(
            pool.clone(),
            support::env("CHILD_CRASH_AT"),
        ));
        let worker = Worker::new(pool, crate::helpers::registry(kube, &settings), config);
        worker
            .run(futures::future::pending::<()>())
            .await
            .expect("worker runs");
    });
}
