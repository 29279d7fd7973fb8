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
//! - [`budgets`]: a lesson within its resource budget READY, one over it refused by quota
//!   admission and in ERROR naming the quota.
//! - [`harness`]: starts and stops etcd, kube-apiserver and kube-controller-manager.
//! - [`cluster`]: what the scheduler expects a cluster to have (CRD, RuntimeClass, secrets).
//! - [`dry_run`]: server-side dry run of every object of every lesson.
//! - [`differential`]: the same requests to kubesim and kube-apiserver, answers compared.
//! - [`lab`]: database, prepared cluster, the scheduler's ServiceAccount, the node agent.
//! - [`lifecycle`]: every example lesson to READY, a stage change, DELETE, crash-resume.
//! - [`outage`]: kube-apiserver, then etcd, restarted mid-provisioning.
//! - [`rbac`]: `deploy/`'s ClusterRole is enough and every rule of it is needed.
//! - [`install`]: the Helm chart and the kustomize base applied (after a strict dry run);
//!   `antidoted` run from them as its pods run, in-cluster: every lesson created and
//!   deleted through `serve`, and a rolling restart of `worker` pods that loses nothing.
//! - [`incluster`]: `antidoted` run as the kubelet runs a rendered container: its
//!   arguments, environment and ConfigMap, the ServiceAccount token in a mount namespace
//!   of its own, its user and read-only root.
//! - [`child`]: the crashing worker process of the crash-resume test.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod budgets;
mod child;
mod cluster;
#[path = "../support/deploy_tools.rs"]
mod deploy_tools;
mod differential;
mod dry_run;
mod harness;
#[allow(dead_code)]
#[path = "../lifecycle/helpers.rs"]
mod helpers;
mod incluster;
mod install;
mod lab;
mod lifecycle;
mod outage;
mod rbac;
