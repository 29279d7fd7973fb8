//! The deployment manifests applied to the real control plane, and the scheduler run from
//! them as its pods run:
//!
//! - the Helm chart (its defaults, and `ci/optional-values.yaml`) and the kustomize base
//!   (`deploy/`), rendered by the pinned helm and kustomize, are accepted by a server-side
//!   dry run with strict field validation and then applied for real, and the pods of
//!   their Deployments and Jobs pass admission (Pod Security `restricted` included);
//! - `antidoted serve`, started as the chart's Deployment runs it (its arguments, its
//!   environment from the applied Secret, the applied ConfigMap at its mount path) with
//!   in-cluster configuration only ([`crate::incluster`]: the chart's ServiceAccount
//!   token in a mount namespace of the process's own), takes every example lesson to
//!   READY and deletes it over its HTTP API, and the audit log shows no Forbidden;
//! - a rolling restart of two `antidoted worker` pods (the chart's `api` + `worker`
//!   split), each SIGTERMed while it holds every CREATE mid-provisioning, loses nothing:
//!   every job is handed back, resumed by the next worker at the step it stopped in, and
//!   completes; every livelesson reaches READY with exactly the objects it should have.
//!
//! helm and kustomize are found as `tests/deploy/chart.rs` finds them; without them these
//! tests pass saying they skipped, unless `ANTIDOTE_DEPLOY_TOOLS=require` or
//! `ANTIDOTE_REAL_CONTROL_PLANE=require`: then their absence is a failure.
//!
//! Layout: [`render`] (helm, kustomize), [`apply`] (dry run, apply, admission, the first
//! test), [`pods`] (the scheduler's pods and their checks), [`serve`] and [`rolling`] (the
//! in-cluster tests).

mod apply;
mod pods;
mod render;
mod rolling;
mod serve;

use crate::lab::{SCHEDULER_ACCOUNT, SCHEDULER_NAMESPACE};

/// deploy/'s release name and namespace: the chart installed where deploy/ installs, so
/// that its ServiceAccount is the scheduler identity the lab expects.
pub(super) const RELEASE: &str = SCHEDULER_ACCOUNT;
pub(super) const NAMESPACE: &str = SCHEDULER_NAMESPACE;
/// The field manager of every server-side apply here.
pub(super) const FIELD_MANAGER: &str = "antidote-install-test";
/// The example curriculum's lessons.
pub(super) const LESSONS: [&str; 4] = [
    "linux-first-steps",
    "router-configuration",
    "web-automation",
    "notebook-automation",
];
