//! The reachability step: probes every endpoint in parallel until all answer, storing
//! progress (healthy/total) as each one does.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::try_join_all;
use tokio::time::Instant;

use crate::backend::Settings;
use crate::backend::reachability::{Probe, ProbeError, probe};
use crate::curriculum::PresentationType;
use crate::queue::{JobContext, JobError};
use crate::store::livelesson::{self, LiveEndpoint};

use super::run::store;
use crate::ids::LivelessonId;

/// Pause between rounds of probes of one endpoint.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Waits until every endpoint of livelesson `id` not yet marked reachable is reachable
/// at its host. `endpoints` are the livelesson's as the job loaded them (a resumed job
/// skips those an earlier attempt marked), `hosts` what the `hosts` step stored: the job
/// has both already, so the step reads nothing back from the database.
pub(crate) async fn wait_reachable(
    ctx: &JobContext,
    id: &LivelessonId,
    endpoints: &[LiveEndpoint],
    hosts: &BTreeMap<String, String>,
    settings: &Settings,
) -> Result<(), JobError> {
    let deadline = Instant::now() + settings.reachability_timeout;
    try_join_all(
        endpoints
            .iter()
            .filter(|e| !e.reachable)
            .map(|endpoint| async move {
                let host = hosts
                    .get(&endpoint.name)
                    .or(endpoint.host.as_ref())
                    .ok_or_else(|| {
                        JobError::Permanent(format!("no host recorded for {}", endpoint.name))
                    })?;
                loop {
                    let failure = match check(endpoint, host, settings.probe_timeout).await {
                        Ok(()) => {
                            livelesson::set_reachable(ctx.pool(), id, &endpoint.name)
                                .await
                                .map_err(store)?;
                            return Ok(());
                        }
                        Err(err) => err,
                    };
                    if Instant::now() + PROBE_INTERVAL > deadline {
                        let why = failure.to_string();
                        return Err(JobError::Permanent(format!(
                            "endpoint {} not reachable within {} s: {why}",
                            endpoint.name,
                            settings.reachability_timeout.as_secs()
                        )));
                    }
                    tokio::time::sleep(PROBE_INTERVAL).await;
                }
            }),
    )
    .await?;
    Ok(())
}

/// Every probe of one endpoint at `host`, in parallel; all must pass.
async fn check(endpoint: &LiveEndpoint, host: &str, timeout: Duration) -> Result<(), ProbeError> {
    let probes: Vec<(u16, Probe)> = if endpoint.presentations.is_empty() {
        endpoint
            .ports
            .iter()
            .filter_map(|p| u16::try_from(*p).ok())
            .map(|p| (p, Probe::Tcp))
            .collect()
    } else {
        endpoint
            .presentations
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    PresentationType::Ssh => Probe::Ssh,
                    PresentationType::Http => Probe::Http,
                };
                (p.port, kind)
            })
            .collect()
    };
    try_join_all(
        probes
            .into_iter()
            .map(|(port, kind)| probe(host, port, kind, timeout)),
    )
    .await?;
    Ok(())
}
