//! The demo's web tab: what the front end's iframe of an http presentation loads, at the
//! `HepDomain` the API returned (`<name>.localhost:<port>`), through the presentation
//! proxy. `*.localhost` names the loopback address, as browsers resolve it; the system's
//! resolver need not know the name.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;

/// How long the page may take.
const WITHIN: Duration = Duration::from_secs(20);

/// The page at `path` of `address` (`host:port`), trimmed.
///
/// # Errors
/// When the address is not `host:port`, or the page does not load with a 2xx answer.
pub async fn load(address: &str, path: &str) -> anyhow::Result<String> {
    let (host, _) = address
        .rsplit_once(':')
        .with_context(|| format!("{address} has no port"))?;
    let http = reqwest::Client::builder()
        // Port 0: the URL's port.
        .resolve(host, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .timeout(WITHIN)
        .build()?;
    let url = format!("http://{address}{path}");
    let page = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()?
        .text()
        .await?;
    Ok(page.trim().to_owned())
}
