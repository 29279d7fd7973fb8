//! The real-control-plane tier: the backend's objects, verbs and ClusterRole against a real
//! kube-apiserver (with etcd and kube-controller-manager) of the release pinned in
//! `scripts/k8s-control-plane.pins`. Every test name contains `real_control_plane`, so
//! `cargo nextest run --workspace -E 'test(real_control_plane)'` runs exactly this tier.
//!
//! The binaries come from `bash scripts/k8s-control-plane.sh` (a cache outside the
//! repository); without them every test here prints why it is skipped and passes, unless
//! `ANTIDOTE_REAL_CONTROL_PLANE=require` (CI sets it) makes that a failure.
//!
//! # Layout
//!
//! - [`harness`]: starts and stops etcd, kube-apiserver and kube-controller-manager.
//! - [`cluster`]: what the scheduler expects a cluster to have (CRD, RuntimeClass, secrets).
//! - [`dry_run`]: server-side dry run of every object of every lesson.

mod cluster;
mod dry_run;
mod harness;
