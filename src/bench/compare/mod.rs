//! `bench compare`: antidoted beside the PostgreSQL job queues a user might pick
//! instead, run back to back on this machine and server, each on a fresh database.
//!
//! The peers are benchmark harnesses kept outside this repository (by default in
//! `../shared/peers`): `rust/` is a Cargo workspace with graphile_worker, apalis, underway
//! and awa harnesses, each built here by package into their own target directory; `go/`
//! holds River's, built with `go build` into the work directory; `node/` holds
//! graphile-worker for Node, installed with `npm ci` into a work directory. Each prints one
//! JSON line with the keys of `bench queue`. Peers whose harness is missing or does not
//! build are skipped with the reason; nothing of theirs is needed by the tests.
//!
//! Every round runs every peer once, in an order rotated by one each round so that a
//! drift of the machine's load does not always favour the same peer, and notes the load
//! average before each run: on a shared machine only ratios measured close together mean
//! something.
//!
//! Here: `peer` names the queues, `params` what a comparison is asked to do, `builds`
//! builds the peers, `harness` the processes of a run, `server` the fresh database of
//! each, `steps` runs them and reads their figures, `rounds` runs the rounds and divides
//! the figures, `medians` takes each peer's medians over the rounds, `targets` holds them
//! against issue 31's goals, `report` is what comes out and `table` shows it.

mod builds;
mod harness;
mod medians;
mod params;
mod peer;
mod report;
mod rounds;
mod server;
mod steps;
mod table;
mod targets;

pub use medians::Medians;
pub use params::{CompareError, Params};
pub use peer::Peer;
pub use report::{Figures, Outcome, Ratios, Report, Round, Run};
pub use rounds::run;
pub use table::table;
pub use targets::{Goal, Target};
