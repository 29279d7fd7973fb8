//! Where a learner's browser is sent: the endpoint behind the address of an http
//! presentation (or of the jupyter guide) of a READY livelesson, as an ingress would route
//! it.

use sqlx::PgExecutor;

use super::{Result, db};
use crate::curriculum::names::JUPYTER_ENDPOINT;
use crate::ids::LivelessonId;

/// The endpoint serving a presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The livelesson presenting it.
    pub livelesson: LivelessonId,
    /// The endpoint's host (its service address).
    pub host: String,
    /// The presentation's port on that host.
    pub port: u16,
}

/// The upstream of the http presentation or jupyter guide whose browser address (the
/// `HepDomain` or `GuideDomain` the API reported) is `address`, if a READY livelesson not
/// being deleted has one. It scans the presentations of READY livelessons: the demo's
/// proxy asks it, not production traffic (an ingress routes that).
pub async fn upstream(executor: impl PgExecutor<'_>, address: &str) -> Result<Option<Upstream>> {
    let row = sqlx::query!(
        r#"select l.id as "id!", e.host as "host!", (p->>'port')::int4 as "port!"
             from livelessons l
             join live_endpoints e on e.livelesson_id = l.id
             cross join lateral jsonb_array_elements(e.presentations) p
            where l.status = 'READY' and not l.deleting and e.host is not null
              and p->>'type' = 'http' and p->>'hepDomain' = $1
           union all
           select l.id, e.host, e.ports[1]
             from livelessons l
             join live_endpoints e on e.livelesson_id = l.id and e.name = $2
            where l.status = 'READY' and not l.deleting and e.host is not null
              and l.guide_domain = $1
           limit 1"#,
        address,
        JUPYTER_ENDPOINT,
    )
    .fetch_optional(executor)
    .await
    .map_err(db("finding a presentation"))?;
    Ok(row.and_then(|r| {
        Some(Upstream {
            livelesson: r.id.into(),
            host: r.host,
            port: u16::try_from(r.port).ok()?,
        })
    }))
}
