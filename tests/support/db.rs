//! The database of a `#[sqlx::test]`, named for child processes. Included with `#[path]`
//! by the test crates that start workers in other processes.

use sqlx::PgPool;

/// The URL of the database behind `pool` (a `#[sqlx::test]` database): `DATABASE_URL`
/// with its database name replaced, its query (TLS mode, options) kept.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("current_database");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url.to_owned(), format!("?{query}")),
        None => (base.clone(), String::new()),
    };
    let prefix = without_query
        .rsplit_once('/')
        .map(|(prefix, _)| prefix.to_owned())
        .expect("DATABASE_URL has a database path");
    format!("{prefix}/{name}{query}")
}
