//! A lesson's connections: both ends name endpoints of the lesson, no pair twice, unique
//! network names, subnets in CIDR form.

use std::collections::{BTreeMap, HashSet};

use ipnet::IpNet;

use crate::curriculum::model::Connection;
use crate::curriculum::names;
use crate::curriculum::raw::RawConnection;
use crate::curriculum::report::FileProblems;

pub(super) fn connections(
    raw: Option<Vec<RawConnection>>,
    endpoints: &HashSet<String>,
    p: &mut FileProblems<'_>,
) -> Vec<Connection> {
    let mut connections = Vec::new();
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    // NetworkAttachmentDefinition name → the first connection that has it.
    let mut networks: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in raw.unwrap_or_default().into_iter().enumerate() {
        let before = p.errors();
        let mut side = |key: &str, value: Option<String>| {
            let value = value.unwrap_or_default();
            if !endpoints.contains(&value) {
                p.error(
                    format!("connections[{i}].{key}"),
                    format!("`{value}` is not the name of an endpoint of this lesson"),
                );
            }
            value
        };
        let a = side("a", raw.a);
        let b = side("b", raw.b);
        if a == b && !a.is_empty() {
            p.error(
                format!("connections[{i}]"),
                format!("connects endpoint `{a}` to itself"),
            );
        } else {
            let key = if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            if let Some(first) = pairs.insert(key, i) {
                p.error(
                    format!("connections[{i}]"),
                    format!(
                        "duplicate connection between `{a}` and `{b}` (also connections[{first}])"
                    ),
                );
            }
        }
        if p.errors() == before {
            let network = names::connection_network(&a, &b);
            if let Some(first) = networks.get(&network) {
                p.error(
                    format!("connections[{i}]"),
                    format!(
                        "its network would be named `{network}` like that of connections[{first}]; rename an endpoint"
                    ),
                );
            } else {
                networks.insert(network, i);
            }
        }
        let subnet = match raw.subnet.as_deref() {
            None | Some("") => None,
            Some(text) => match text.parse::<IpNet>() {
                Ok(net) if net.trunc() == net => Some(net),
                Ok(net) => {
                    p.error_eg(
                        format!("connections[{i}].subnet"),
                        format!("`{text}` has host bits set; the subnet is {}", net.trunc()),
                        net.trunc().to_string(),
                    );
                    None
                }
                Err(_) => {
                    p.error_eg(
                        format!("connections[{i}].subnet"),
                        format!("`{text}` is not a CIDR subnet"),
                        "10.12.0.0/24",
                    );
                    None
                }
            },
        };
        if p.errors() == before {
            connections.push(Connection { a, b, subnet });
        }
    }
    connections
}
