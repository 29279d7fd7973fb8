//! The livelesson's resource budget as objects: a ResourceQuota holding the namespace to
//! its size, a LimitRange giving containers that name no resources the per-pod share, and
//! the requests and limits of the pods the scheduler makes (see
//! [`crate::backend::budget`] for the rule).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{Error, Result, object_meta};
use crate::backend::budget::{Plan, QUOTA_NAME, Size};
use crate::backend::{Livelesson, Settings};

/// How the livelesson's budget is shared.
///
/// # Errors
/// [`Error::Budget`] when its size is not defined.
pub fn plan(settings: &Settings, ll: &Livelesson<'_>) -> Result<Plan> {
    Plan::of(&settings.budgets, ll.lesson).map_err(Error::Budget)
}

fn quantities(size: Size) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(size.cpu.to_string())),
        ("memory".to_owned(), Quantity(size.memory.to_string())),
    ])
}

/// Requests and limits of one pod's containers: the per-pod share, both.
pub fn pod_resources(plan: &Plan) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities(plan.per_pod)),
        limits: Some(quantities(plan.per_pod)),
        ..ResourceRequirements::default()
    }
}

/// The ResourceQuota [`QUOTA_NAME`]: requests and limits of CPU and memory of all the
/// namespace's pods together at most the budget.
///
/// # Errors
/// [`Error::Budget`].
pub fn resource_quota(settings: &Settings, ll: &Livelesson<'_>) -> Result<ResourceQuota> {
    let plan = plan(settings, ll)?;
    let hard = ["requests", "limits"]
        .into_iter()
        .flat_map(|prefix| {
            quantities(plan.budget)
                .into_iter()
                .map(move |(key, value)| (format!("{prefix}.{key}"), value))
        })
        .collect();
    Ok(ResourceQuota {
        metadata: object_meta(settings, ll, QUOTA_NAME, &[]),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        status: None,
    })
}

/// The LimitRange [`QUOTA_NAME`]: a container that names no requests or limits gets the
/// per-pod share (the scheduler's own pods name theirs).
///
/// # Errors
/// [`Error::Budget`].
pub fn limit_range(settings: &Settings, ll: &Livelesson<'_>) -> Result<LimitRange> {
    let plan = plan(settings, ll)?;
    Ok(LimitRange {
        metadata: object_meta(settings, ll, QUOTA_NAME, &[]),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_owned(),
                default: Some(quantities(plan.per_pod)),
                default_request: Some(quantities(plan.per_pod)),
                ..LimitRangeItem::default()
            }],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    #[test]
    fn the_quota_holds_requests_and_limits_to_the_budget() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let quota = resource_quota(&fx.settings, &ll).expect("quota");
        assert_eq!(quota.metadata.name.as_deref(), Some(QUOTA_NAME));
        let hard = quota.spec.and_then(|s| s.hard).expect("hard");
        let medium = |key: &str| hard.get(key).map(|q| q.0.as_str());
        assert_eq!(medium("limits.cpu"), Some("2"));
        assert_eq!(medium("requests.cpu"), Some("2"));
        assert_eq!(medium("limits.memory"), Some("2Gi"));
        assert_eq!(medium("requests.memory"), Some("2Gi"));
    }

    #[test]
    fn the_limit_range_defaults_containers_to_the_share() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let share = plan(&fx.settings, &ll).expect("plan").per_pod;
        let range = limit_range(&fx.settings, &ll).expect("range");
        let item = &range.spec.expect("spec").limits[0];
        assert_eq!(item.type_, "Container");
        assert_eq!(item.default, Some(quantities(share)));
        assert_eq!(item.default_request, Some(quantities(share)));
    }

    #[test]
    fn every_container_of_every_pod_asks_its_share() {
        let fx = Fixture::example();
        for slug in fx.curriculum.lessons.iter().map(|l| l.slug.clone()) {
            let ll = fx.livelesson(&slug);
            let share = pod_resources(&plan(&fx.settings, &ll).expect("plan"));
            let objects =
                super::super::objects::livelesson_objects(&fx.settings, &ll, &[]).expect("objects");
            for object in objects {
                let spec = match object {
                    super::super::objects::Object::Pod(pod) => pod.spec,
                    super::super::objects::Object::Job(job) => {
                        job.spec.and_then(|s| s.template.spec)
                    }
                    _ => continue,
                };
                let spec = spec.expect("pod spec");
                for container in spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                {
                    assert_eq!(container.resources.as_ref(), Some(&share), "{slug}");
                }
            }
        }
    }
}
