//! The durable job engine.
