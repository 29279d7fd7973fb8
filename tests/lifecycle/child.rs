//! The body of child worker processes; does nothing unless started by
//! [`super::helpers::ChildWorker`].

use job_engine::testing::child as support;

#[test]
fn worker() {
    support::run_child(|pool| async move {
        let url = support::env("CHILD_KUBESIM_URL")
            .parse()
            .expect("kubesim url");
        let kube = kube::Client::try_from(kube::Config::new(url)).expect("kube client");
        let settings = super::helpers::settings();
        // The production registry: refill passes too, which takes and deletions enqueue
        // (the chaos run with pools on).
        let registry = super::helpers::registry(kube, &settings);
        super::helpers::crashing_worker(pool, registry)
            .run(futures::future::pending::<()>())
            .await
            .expect("worker runs");
    });
}
