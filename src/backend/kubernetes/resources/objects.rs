//! Every object a livelesson can create, in the order CREATE and MODIFY send them, for
//! tools that judge the whole set at once: the object checks of the tests and fuzz
//! targets, and the server-side dry run against a real API server.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, Pod, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::Resource;
use kube::core::{ApiResource, DynamicObject};
use serde_json::Value;

use super::budget::{limit_range, resource_quota};
use super::{
    Livelesson, Result, Settings, config_credentials_secret, config_job, ingresses,
    jupyter_ingress, jupyter_pod, jupyter_service, lesson_files, nad_api_resource, namespace,
    network_attachments, network_policy, pod, secret_copy, service,
};

/// One object of a livelesson, typed as the backend builds it (boxed: the types are
/// large and of very different sizes).
#[derive(Debug, Clone)]
pub enum Object {
    /// The livelesson's namespace.
    Namespace(Box<Namespace>),
    /// The resource budget's quota.
    ResourceQuota(Box<ResourceQuota>),
    /// The resource budget's container defaults.
    LimitRange(Box<LimitRange>),
    /// The egress lockdown.
    NetworkPolicy(Box<NetworkPolicy>),
    /// A copied secret or the configuration credentials.
    Secret(Box<Secret>),
    /// The lesson files.
    ConfigMap(Box<ConfigMap>),
    /// A Multus network.
    NetworkAttachment(Box<DynamicObject>),
    /// An endpoint pod (or the jupyter guide's).
    Pod(Box<Pod>),
    /// An endpoint service.
    Service(Box<Service>),
    /// An endpoint ingress.
    Ingress(Box<Ingress>),
    /// A configuration job.
    Job(Box<Job>),
}

impl Object {
    /// The object as JSON, as the client sends it.
    ///
    /// # Errors
    /// A serialisation failure (a bug in a builder).
    pub fn to_json(&self) -> serde_json::Result<Value> {
        match self {
            Self::Namespace(o) => serde_json::to_value(o),
            Self::ResourceQuota(o) => serde_json::to_value(o),
            Self::LimitRange(o) => serde_json::to_value(o),
            Self::NetworkPolicy(o) => serde_json::to_value(o),
            Self::Secret(o) => serde_json::to_value(o),
            Self::ConfigMap(o) => serde_json::to_value(o),
            Self::NetworkAttachment(o) => serde_json::to_value(o),
            Self::Pod(o) => serde_json::to_value(o),
            Self::Service(o) => serde_json::to_value(o),
            Self::Ingress(o) => serde_json::to_value(o),
            Self::Job(o) => serde_json::to_value(o),
        }
    }

    /// The API resource (group, version, plural) the object is created in.
    pub fn api_resource(&self) -> ApiResource {
        match self {
            Self::Namespace(_) => ApiResource::erase::<Namespace>(&()),
            Self::ResourceQuota(_) => ApiResource::erase::<ResourceQuota>(&()),
            Self::LimitRange(_) => ApiResource::erase::<LimitRange>(&()),
            Self::NetworkPolicy(_) => ApiResource::erase::<NetworkPolicy>(&()),
            Self::Secret(_) => ApiResource::erase::<Secret>(&()),
            Self::ConfigMap(_) => ApiResource::erase::<ConfigMap>(&()),
            Self::NetworkAttachment(_) => nad_api_resource(),
            Self::Pod(_) => ApiResource::erase::<Pod>(&()),
            Self::Service(_) => ApiResource::erase::<Service>(&()),
            Self::Ingress(_) => ApiResource::erase::<Ingress>(&()),
            Self::Job(_) => ApiResource::erase::<Job>(&()),
        }
    }

    /// `Kind name`, for messages.
    pub fn describe(&self) -> String {
        let meta = match self {
            Self::Namespace(o) => o.meta(),
            Self::ResourceQuota(o) => o.meta(),
            Self::LimitRange(o) => o.meta(),
            Self::NetworkPolicy(o) => o.meta(),
            Self::Secret(o) => o.meta(),
            Self::ConfigMap(o) => o.meta(),
            Self::NetworkAttachment(o) => o.meta(),
            Self::Pod(o) => o.meta(),
            Self::Service(o) => o.meta(),
            Self::Ingress(o) => o.meta(),
            Self::Job(o) => o.meta(),
        };
        format!(
            "{} {}",
            self.api_resource().kind,
            meta.name.as_deref().unwrap_or_default()
        )
    }
}

/// Every object of `ll`, in creation order: namespace, the budget's quota and limit
/// range, the policy (unless egress is
/// allowed), copies of `source_secrets`, the credentials (when an endpoint is
/// configurable), lesson files, networks, each endpoint's pod, service and ingresses, the
/// jupyter guide's, then the configuration jobs of every stage. A job's target host is
/// its endpoint's name here; the backend passes the service's ClusterIP.
///
/// # Errors
/// What the pod or job builders refuse.
pub fn livelesson_objects(
    settings: &Settings,
    ll: &Livelesson<'_>,
    source_secrets: &[Secret],
) -> Result<Vec<Object>> {
    let mut objects = vec![
        Object::Namespace(Box::new(namespace(settings, ll))),
        Object::ResourceQuota(Box::new(resource_quota(settings, ll)?)),
        Object::LimitRange(Box::new(limit_range(settings, ll)?)),
    ];
    if !settings.allow_egress {
        objects.push(Object::NetworkPolicy(Box::new(network_policy(
            settings, ll,
        ))));
    }
    for source in source_secrets {
        objects.push(Object::Secret(Box::new(secret_copy(source, settings, ll))));
    }
    let configurable: Vec<_> = ll
        .lesson
        .endpoints
        .iter()
        .filter(|e| e.configuration_type.is_some())
        .collect();
    if !configurable.is_empty() {
        objects.push(Object::Secret(Box::new(config_credentials_secret(
            settings, ll,
        ))));
    }
    objects.push(Object::ConfigMap(Box::new(lesson_files(settings, ll))));
    objects.extend(
        network_attachments(settings, ll)
            .into_iter()
            .map(|nad| Object::NetworkAttachment(Box::new(nad))),
    );
    for endpoint in &ll.lesson.endpoints {
        objects.push(Object::Pod(Box::new(pod(settings, ll, endpoint)?)));
        objects.push(Object::Service(Box::new(service(settings, ll, endpoint))));
        objects.extend(
            ingresses(settings, ll, endpoint)
                .into_iter()
                .map(|ingress| Object::Ingress(Box::new(ingress))),
        );
    }
    if ll.lesson.uses_jupyter() {
        objects.push(Object::Pod(Box::new(jupyter_pod(settings, ll)?)));
        objects.push(Object::Service(Box::new(jupyter_service(settings, ll))));
        objects.push(Object::Ingress(Box::new(jupyter_ingress(settings, ll))));
    }
    for stage in 0..ll.lesson.stages.len() {
        for endpoint in &configurable {
            objects.push(Object::Job(Box::new(config_job(
                settings,
                ll,
                endpoint,
                stage,
                &endpoint.name,
            )?)));
        }
    }
    Ok(objects)
}
