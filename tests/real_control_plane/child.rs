//! The body of child worker processes on the real control plane; does nothing unless
//! started by [`crate::helpers::ChildWorker::spawn_for`] with `CHILD_KUBECONFIG`.

use std::path::PathBuf;

use crate::harness::ControlPlane;
use crate::lab;

use job_engine::testing::child as support;

#[test]
fn worker() {
    support::run_child(|pool| async move {
        let kube =
            ControlPlane::client_from(&PathBuf::from(support::env("CHILD_KUBECONFIG"))).await;
        let registry = crate::helpers::registry(kube, &lab::settings());
        crate::helpers::crashing_worker(pool, registry)
            .run(futures::future::pending::<()>())
            .await
            .expect("worker runs");
    });
}
