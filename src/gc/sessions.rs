//! Session expiry (`gc.sessions`): sessions inactive for the session TTL that have no
//! livelesson are deleted. The statement's reasoning about the race with a livelesson
//! being created is on [`crate::store::gc::expire_sessions`].

use sqlx::PgPool;

use crate::store::gc as sql;

use super::{Config, Result, secs};

/// One pass: deletes expired empty sessions in batches; returns how many.
///
/// # Errors
/// [`super::GcError`] when a statement fails; batches done before stay done.
pub async fn run_once(pool: &PgPool, config: &Config) -> Result<u64> {
    let mut deleted = 0u64;
    loop {
        let ids = sql::expire_sessions(pool, secs(config.session_ttl), config.batch()).await?;
        deleted += ids.len() as u64;
        if i64::try_from(ids.len()).is_ok_and(|n| n < config.batch()) {
            return Ok(deleted);
        }
    }
}
