//! Who the client is: the peer address, or the first `X-Forwarded-For` entry when the peer
//! is a trusted proxy. Anyone else's `X-Forwarded-For` is ignored, so it cannot be used to
//! dodge the per-address session limit.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use super::AppState;

/// The client's address, when known (unknown only without connect info, as in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self(client_ip(peer, &forwarded, &state.trusted_proxies)))
    }
}

/// The client's address given the peer, the `X-Forwarded-For` header (comma-separated)
/// and the trusted proxies.
pub fn client_ip(peer: Option<IpAddr>, forwarded: &str, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    // The original took the first entry: the client as seen by the outermost proxy.
    forwarded
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .and_then(|first| first.parse::<IpAddr>().ok())
        .map(canonical)
        .or(Some(peer))
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer = Some("203.0.113.9".parse().expect("ip"));
        let got = client_ip(peer, "1.2.3.4", &nets(&["10.0.0.0/8"]));
        assert_eq!(got, peer);
    }

    #[test]
    fn forwarded_for_first_entry_is_used_from_trusted_peers() {
        let peer = Some("10.1.2.3".parse().expect("ip"));
        let got = client_ip(peer, " 198.51.100.7, 10.0.0.1", &nets(&["10.0.0.0/8"]));
        assert_eq!(got, Some("198.51.100.7".parse().expect("ip")));
        // Garbage from the proxy falls back to the proxy itself.
        assert_eq!(client_ip(peer, "not-an-ip", &nets(&["10.0.0.0/8"])), peer);
    }
}
