//! The CREATE steps of the example curriculum's `router-configuration` lesson, in order
//! (connections, napalm configuration, ready delay): what the crash-resume and trace
//! tests walk. Included with `#[path]` by the test crates that need it.

/// Every CREATE step of `router-configuration`, in the order the workflow runs them.
pub const ROUTER_CONFIGURATION_CREATE_STEPS: &[&str] = &[
    "plan",
    "images",
    "namespace",
    "network-policy",
    "secrets",
    "lesson-files",
    "networks",
    "endpoint:linux1",
    "endpoint:vqfx-1",
    "endpoint:vqfx-2",
    "status:BOOTING",
    "pods-ready",
    "hosts",
    "reachability",
    "status:CONFIGURATION",
    "config-cleanup:0",
    "config-start:0",
    "config-wait:0",
    "ready-delay",
    "status:READY",
];
