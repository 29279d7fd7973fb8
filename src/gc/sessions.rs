//! Session expiry (`gc.sessions`): sessions inactive for the session TTL that have no
//! livelesson are deleted. The statement's reasoning about the race with a livelesson
//! being created is on [`crate::store::gc::expire_sessions`].

use crate::queue::Client;
use crate::store::gc as sql;

use super::{Config, Result, secs};

/// One pass: deletes expired empty sessions in batches; returns how many. Inactivity is
/// measured by `client`'s clock.
///
/// # Errors
/// [`super::GcError`] when a statement fails; batches done before stay done.
pub async fn run_once(client: &Client, config: &Config) -> Result<u64> {
    let mut deleted = 0u64;
    loop {
        let ids = sql::expire_sessions(
            client.pool(),
            client.clock().statement_time(),
            secs(config.session_ttl),
            config.batch(),
        )
        .await?;
        deleted += ids.len() as u64;
        if i64::try_from(ids.len()).is_ok_and(|n| n < config.batch()) {
            return Ok(deleted);
        }
    }
}
