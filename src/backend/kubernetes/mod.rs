//! The Kubernetes backend: pure resource builders ([`resources`]) and their application
//! through kube-rs.

pub mod resources;
