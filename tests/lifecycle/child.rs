//! The body of child worker processes; does nothing unless started by
//! [`super::helpers::ChildWorker`].

use antidote_scheduler::queue::Worker;

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
        let url = env("CHILD_KUBESIM_URL").parse().expect("kubesim url");
        let kube = kube::Client::try_from(kube::Config::new(url)).expect("kube client");
        let settings = super::helpers::settings();
        let mut config = super::helpers::worker_config();
        config.lease = std::time::Duration::from_millis(1000);
        config.heartbeat = std::time::Duration::from_millis(300);
        config.step_hook = Some(super::helpers::crash_hook(
            pool.clone(),
            env("CHILD_CRASH_AT"),
        ));
        let worker = Worker::new(pool, super::helpers::registry(kube, &settings), config);
        worker
            .run(futures::future::pending::<()>())
            .await
            .expect("worker runs");
    });
}
