//! Authorization the original never had: a terminal may only reach a `host:port` that is
//! an `ssh` presentation of a READY learner's livelesson, as the store records it. Decided
//! before anything is dialed.

use sqlx::PgPool;

use crate::store::terminal;

use super::handshake::Login;
use super::refusal::Refusal;

/// The livelesson endpoint a terminal was allowed to reach.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// The livelesson.
    pub livelesson_id: String,
    /// The endpoint.
    pub endpoint: String,
    /// The trace of the request that created the livelesson.
    pub traceparent: Option<String>,
}

/// Whether `login`'s `host:port` is an `ssh` presentation of a READY livelesson.
///
/// # Errors
/// [`Refusal::NotATerminal`], [`Refusal::NotReady`], or [`Refusal::Unavailable`] when the
/// database cannot answer (logged without the login).
pub async fn authorize(pool: &PgPool, login: &Login) -> Result<Allowed, Refusal> {
    let target = terminal::target(pool, &login.host, login.port)
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, host = %login.host, port = login.port, "authorizing a terminal");
            Refusal::Unavailable
        })?
        .ok_or_else(|| Refusal::NotATerminal {
            host: login.host.clone(),
            port: login.port,
        })?;
    if target.deleting || target.status != "READY" {
        return Err(Refusal::NotReady {
            host: login.host.clone(),
            port: login.port,
            status: if target.deleting {
                "ending".into()
            } else {
                target.status
            },
        });
    }
    Ok(Allowed {
        livelesson_id: target.livelesson_id,
        endpoint: target.endpoint,
        traceparent: target.traceparent,
    })
}
