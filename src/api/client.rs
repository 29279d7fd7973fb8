//! Who the client is: the TCP peer, or, when the peer is a trusted proxy, the right-most
//! hop of the forwarding header that no trusted proxy added (RFC 7239 section 7.4; the
//! same walk for `X-Forwarded-For`). Proxies append the address they received from, so
//! every entry left of the last untrusted hop was written by that client and is ignored:
//! a spoofed left-most entry cannot dodge the per-address limits. Also how addresses are
//! grouped for those limits (IPv6 per prefix, a /64 by default).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::AppState;

/// Which header the trusted proxies append the client's address to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the de facto standard).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ForwardedHeader {
    /// Parses the configuration value (`x-forwarded-for` or `forwarded`).
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err("expected x-forwarded-for or forwarded".into()),
        }
    }

    /// The header's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }

    /// The hops the header lists, left (first proxy's client) to right (last proxy's
    /// client), over every line of the header in order. `None` stands for a hop whose
    /// address is not given: garbage, `unknown`, or an obfuscated identifier.
    pub fn hops(self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let lines = headers
            .get_all(self.name())
            .iter()
            // A line that is not text is one unreadable hop: never skipped, since skipping
            // would let the hop left of it count as the client.
            .map(|value| value.to_str().ok());
        let mut hops = Vec::new();
        for line in lines {
            let Some(line) = line else {
                hops.push(None);
                continue;
            };
            for element in line.split(',') {
                let node = match self {
                    Self::XForwardedFor => Some(element.trim()),
                    Self::Forwarded => forwarded_for(element),
                };
                hops.push(node.and_then(parse_node));
            }
        }
        hops
    }
}

/// The `for=` value of one `Forwarded` element, unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    node.parse::<IpAddr>()
        .or_else(|_| node.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        })
}

/// The client's address, when known (unknown only without connect info, as in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_of(parts, state)))
    }
}

/// The client of a request, as [`client_ip`] resolves it with `state`'s settings.
pub fn client_of(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let hops = if peer.is_some_and(|p| is_trusted(canonical(p), &state.trusted_proxies)) {
        state.forwarded_header.hops(&parts.headers)
    } else {
        Vec::new()
    };
    client_ip(peer, &hops, &state.trusted_proxies)
}

/// The client's address given the peer, the forwarding header's hops (left to right) and
/// the trusted proxies: walking from the peer leftwards, the first address that is not a
/// trusted proxy. A hop without a usable address stops the walk at the trusted proxy that
/// reported it, so garbage costs its sender's proxy, never a limit.
pub fn client_ip(
    peer: Option<IpAddr>,
    hops: &[Option<IpAddr>],
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let mut client = canonical(peer?);
    for hop in hops.iter().rev() {
        if !is_trusted(client, trusted) {
            break;
        }
        match hop {
            Some(ip) => client = canonical(*ip),
            None => break,
        }
    }
    Some(client)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The group an address counts in for the per-address limits: an IPv4 address itself, an
/// IPv6 address's network of `ipv6_prefix` bits (one host or one LAN is handed a whole
/// /64, so single IPv6 addresses are no limit at all).
pub fn limit_group(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => Ipv6Net::new(v6, ipv6_prefix.min(128))
            .map_or(IpAddr::V6(v6), |net| IpAddr::V6(net.network())),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The key sessions are counted under: [`limit_group`] as text, with its prefix length
/// for IPv6 networks (`2001:db8:1:2::/64`).
pub fn limit_key(ip: IpAddr, ipv6_prefix: u8) -> String {
    match limit_group(ip, ipv6_prefix) {
        IpAddr::V6(net) if ipv6_prefix < 128 => format!("{net}/{ipv6_prefix}"),
        group => group.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn hops(header: ForwardedHeader, lines: &[&str]) -> Vec<Option<IpAddr>> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header.name(), HeaderValue::from_str(line).expect("value"));
        }
        header.hops(&headers)
    }

    fn xff(lines: &[&str]) -> Vec<Option<IpAddr>> {
        hops(ForwardedHeader::XForwardedFor, lines)
    }

    #[test]
    fn forwarding_headers_from_untrusted_peers_are_ignored() {
        let peer = Some(ip("203.0.113.9"));
        let got = client_ip(peer, &xff(&["1.2.3.4"]), &nets(&["10.0.0.0/8"]));
        assert_eq!(got, peer);
    }

    #[test]
    fn a_spoofed_left_most_entry_behind_an_appending_proxy_is_ignored() {
        // The client sent "X-Forwarded-For: 198.51.100.1"; the proxy appended its peer.
        let got = client_ip(
            Some(ip("10.1.2.3")),
            &xff(&["198.51.100.1, 203.0.113.50"]),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(got, Some(ip("203.0.113.50")));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8", "192.168.0.0/16"]);
        let got = client_ip(
            Some(ip("10.0.0.1")),
            &xff(&["6.6.6.6, 203.0.113.7", "192.168.1.1"]),
            &trusted,
        );
        assert_eq!(got, Some(ip("203.0.113.7")));
        // Every hop trusted: the left-most is the client.
        let got = client_ip(Some(ip("10.0.0.1")), &xff(&["192.168.1.1"]), &trusted);
        assert_eq!(got, Some(ip("192.168.1.1")));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_proxy_that_reported_it() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = Some(ip("10.1.2.3"));
        assert_eq!(client_ip(peer, &xff(&["not-an-ip"]), &trusted), peer);
        assert_eq!(
            client_ip(peer, &xff(&["1.1.1.1, unknown, 10.9.9.9"]), &trusted),
            Some(ip("10.9.9.9"))
        );
        // No header at all: the proxy itself.
        assert_eq!(client_ip(peer, &[], &trusted), peer);
    }

    #[test]
    fn rfc_7239_forwarded_elements_are_parsed() {
        let got = hops(
            ForwardedHeader::Forwarded,
            &[
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
                "for=unknown, proto=https, for=_hidden, for=198.51.100.3:80",
            ],
        );
        assert_eq!(
            got,
            vec![
                Some(ip("192.0.2.60")),
                Some(ip("2001:db8:cafe::17")),
                None,
                None,
                None,
                Some(ip("198.51.100.3")),
            ]
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_per_prefix() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1"), 64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            limit_group(ip("2001:db8:1:2:aaaa::1"), 64),
            limit_group(ip("2001:db8:1:2:ffff::9"), 64)
        );
        assert_eq!(limit_key(ip("2001:db8::1"), 128), "2001:db8::1");
        assert_eq!(limit_key(ip("::ffff:198.51.100.7"), 64), "198.51.100.7");
        assert_eq!(limit_key(ip("198.51.100.7"), 64), "198.51.100.7");
    }
}
