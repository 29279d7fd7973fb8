//! The queues the comparison measures, by the names used on the command line, in the
//! table and in the JSON.

use std::str::FromStr;

use serde::Serialize;

/// A queue measured by the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// This project's engine (`bench queue` and `bench workflow` of this binary).
    Antidoted,
    /// graphile_worker, the Rust port of Graphile Worker (`rust/graphile-worker-bench`).
    GraphileRs,
    /// apalis with apalis-postgres (`rust/apalis-bench`).
    Apalis,
    /// underway (`rust/underway-bench`), at its own smaller sizes: its claim scans the
    /// whole queue.
    Underway,
    /// graphile-worker for Node (`node/graphile.mjs`).
    GraphileNode,
    /// River, the Go queue (`go/`, built with `go build` into `river-bench`). It has no
    /// step API, so it reports no workflows.
    River,
    /// awa (`rust/awa-bench`): its workflows are one job checkpointing three steps, as
    /// antidoted's are.
    Awa,
}

impl Peer {
    /// Every peer, in the default order of a round.
    pub const ALL: [Peer; 7] = [
        Peer::Antidoted,
        Peer::GraphileRs,
        Peer::Apalis,
        Peer::GraphileNode,
        Peer::River,
        Peer::Awa,
        Peer::Underway,
    ];

    /// The name used on the command line, in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Antidoted => "antidoted",
            Peer::GraphileRs => "graphile_rs",
            Peer::Apalis => "apalis",
            Peer::Underway => "underway",
            Peer::GraphileNode => "graphile_node",
            Peer::River => "river",
            Peer::Awa => "awa",
        }
    }
}

impl FromStr for Peer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Peer::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Peer::ALL.iter().map(|p| p.name()).collect();
                format!("unknown peer {s:?}; known: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_by_name_and_unknown_names_are_refused_with_the_known_ones() {
        assert_eq!("apalis".parse::<Peer>(), Ok(Peer::Apalis));
        assert_eq!("river".parse::<Peer>(), Ok(Peer::River));
        assert_eq!("awa".parse::<Peer>(), Ok(Peer::Awa));
        let err = "sidekiq".parse::<Peer>().unwrap_err();
        assert!(err.contains("graphile_rs"), "{err}");
    }
}
