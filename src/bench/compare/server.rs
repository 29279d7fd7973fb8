//! The PostgreSQL server of `--database-url`: the name of each run's database, its URL,
//! and dropping and creating it fresh.

use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;

use super::params::CompareError;
use super::peer::Peer;

/// The server of `--database-url` and the name prefix of the runs' databases.
pub(super) struct Server {
    options: PgConnectOptions,
    prefix: String,
}

impl Server {
    pub(super) fn parse(url: &str) -> Result<Self, CompareError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| CompareError::DatabaseUrl(e.to_string()))?;
        let prefix = options
            .get_database()
            .unwrap_or("antidote_compare")
            .to_owned();
        // Database names are spliced into DROP/CREATE DATABASE, which take no parameters.
        if prefix.is_empty()
            || prefix.len() > 40
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(CompareError::DatabaseUrl(format!(
                "the database name {prefix:?} must be 1-40 characters of A-Z, a-z, 0-9 and _ (it prefixes each peer's database)"
            )));
        }
        Ok(Self { options, prefix })
    }

    pub(super) fn database(&self, peer: Peer, step: usize) -> String {
        format!(
            "{}_{}{}",
            self.prefix,
            peer.name(),
            if step == 0 {
                String::new()
            } else {
                format!("_{step}")
            }
        )
    }

    pub(super) fn url(&self, database: &str) -> String {
        let o = self.options.clone().database(database);
        let user = o.get_username();
        let host = o.get_host();
        let port = o.get_port();
        // The harnesses read a URL; this server is trusted on loopback (no password).
        format!("postgres://{user}@{host}:{port}/{database}")
    }

    /// Drops `database` if it exists and creates it empty.
    pub(super) async fn fresh(&self, database: &str) -> Result<(), CompareError> {
        let err = |source| CompareError::Database {
            name: database.to_owned(),
            source,
        };
        let mut conn = sqlx::PgConnection::connect_with(&self.options.clone().database("postgres"))
            .await
            .map_err(err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{database}\" with (force)"
        )))
        .execute(&mut conn)
        .await
        .map_err(err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create database \"{database}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(err)?;
        let _ = conn.close().await;
        Ok(())
    }

    pub(super) async fn drop(&self, database: &str) {
        if let Ok(mut conn) =
            sqlx::PgConnection::connect_with(&self.options.clone().database("postgres")).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists \"{database}\" with (force)"
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_outside_a_safe_alphabet_are_refused() {
        assert!(Server::parse("postgres://postgres@127.0.0.1:5432/bench_1").is_ok());
        assert!(Server::parse("postgres://postgres@127.0.0.1:5432/Bench\"x").is_err());
    }
}
