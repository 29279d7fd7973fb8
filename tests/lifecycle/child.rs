//! The body of child worker processes; does nothing unless started by
//! [`super::helpers::ChildWorker`].

use antidote_scheduler::queue::Worker;

#[path = "../support/child.rs"]
mod support;

#[test]
fn worker() {
    support::run_child(|pool| async move {
        let url = support::env("CHILD_KUBESIM_URL")
            .parse()
            .expect("kubesim url");
        let kube = kube::Client::try_from(kube::Config::new(url)).expect("kube client");
        let settings = super::helpers::settings();
        let mut config = super::helpers::worker_config();
        config.lease = std::time::Duration::from_millis(1000);
        config.heartbeat = std::time::Duration::from_millis(300);
        config.step_hook = Some(super::helpers::crash_hook(
            pool.clone(),
            support::env("CHILD_CRASH_AT"),
        ));
        let mut registry = super::helpers::registry(kube, &settings);
        // Refill passes, which takes and deletions enqueue (the chaos run with pools on).
        antidote_scheduler::pool::register(&mut registry, std::sync::Arc::new(settings));
        let worker = Worker::new(pool, registry, config);
        worker
            .run(futures::future::pending::<()>())
            .await
            .expect("worker runs");
    });
}
