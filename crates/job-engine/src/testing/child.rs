//! The start of a child worker process, for tests that kill workers: the test binary
//! re-executed into its child test with `ANTIDOTE_CHILD_WORKER` set and its settings in
//! `CHILD_*` variables.

use std::future::Future;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Runs `body` with a pool on `CHILD_DATABASE_URL`, on a runtime of its own, when this
/// process is a child worker; does nothing otherwise, so that the child test passes in an
/// ordinary run.
///
/// # Panics
/// When the child's runtime or connection cannot be made.
#[allow(clippy::expect_used, reason = "a test's set-up, which fails the test")]
pub fn run_child<F, Fut>(body: F)
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var("ANTIDOTE_CHILD_WORKER").is_err() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&env("CHILD_DATABASE_URL"))
            .await
            .expect("child connects");
        body(pool).await;
    });
}

/// The child's setting `key`, which its parent must have set.
///
/// # Panics
/// When the parent did not set it.
#[allow(clippy::panic, reason = "a test's set-up, which fails the test")]
pub fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is set"))
}
