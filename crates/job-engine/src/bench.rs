//! Benchmark fixtures (feature `bench`): whole-table operations for fresh starts
//! ([`tables`]), whole-queue counts and spans a benchmark reports ([`figures`]), and a
//! history of finished jobs loaded in bulk ([`synthetic`]). Not for production paths.

pub use crate::store::{figures, synthetic, tables};
