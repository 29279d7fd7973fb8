//! Pure builders from a livelesson to typed Kubernetes objects. No I/O: the caller applies
//! what these return.
//!
//! Every object lives in the livelesson's namespace (`<instanceId>-<livelessonId>`) and
//! carries [`common_labels`]. Label keys are the original's, so tools written against
//! antidote-core (and its orphan sweep) still find our objects.
//!
//! # Layout
//!
//! - this file: labels, the namespace, the egress NetworkPolicy, secret copies;
//! - [`budget`]: the resource budget's ResourceQuota and LimitRange, and pods' resources;
//! - [`files`]: the lesson-files ConfigMap and the volumes and init container that expose it;
//! - [`network`]: one Multus NetworkAttachmentDefinition per connection;
//! - [`endpoint`]: endpoint pods, services, ingresses, and the jupyter guide endpoint;
//! - [`job`]: configuration jobs and the credentials secret they read;
//! - [`objects`]: every object of a livelesson in creation order, for whole-set checks;
//! - `check` (tests, and the `object-check` feature the fuzz targets use): every object
//!   of a livelesson judged by kubesim's validation.

pub mod budget;
pub mod endpoint;
pub mod files;
pub mod job;
pub mod network;
pub mod objects;

#[cfg(any(test, feature = "object-check"))]
pub mod check;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod regression_tests;
#[cfg(test)]
mod validity_tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::backend::{Livelesson, Settings};

pub use endpoint::{
    container_port_name, ingresses, jupyter_ingress, jupyter_pod, jupyter_service, pod, service,
};
pub use files::{
    copy_files_init_container, files_volume_mount, lesson_file_items, lesson_files, pod_volumes,
};
pub use job::{config_credentials_secret, config_job, credentials_key};
pub use network::{bridge_name, nad_api_resource, nad_name, network_attachments};

/// Label: the livelesson id (original key).
pub const LABEL_LIVELESSON: &str = "liveLesson";
/// Label: the lesson slug (original key).
pub const LABEL_LESSON_SLUG: &str = "lessonSlug";
/// Label `antidoteManaged=yes`: every object the scheduler creates (original key).
pub const LABEL_MANAGED: &str = "antidoteManaged";
/// Label: the instance id, which the orphan sweep selects on (original key).
pub const LABEL_INSTANCE: &str = "antidoteId";
/// Label `name=<namespace>` on the namespace, which the NetworkPolicy selects on.
pub const LABEL_NAME: &str = "name";
/// Label: the endpoint a pod runs, which its service selects on.
pub const LABEL_POD_NAME: &str = "podName";
/// Label `jobType=config` on configuration jobs.
pub const LABEL_JOB_TYPE: &str = "jobType";
/// Label: the stage a configuration job configures.
pub const LABEL_STAGE: &str = "stageId";
/// Label `configPod=yes` on configuration pods, which exempts them from the NetworkPolicy.
pub const LABEL_CONFIG_POD: &str = "configPod";
/// Standard label naming the managing tool.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of the yes/no labels.
pub const YES: &str = "yes";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "antidote-scheduler";
/// Value of [`LABEL_JOB_TYPE`] on configuration jobs.
pub const JOB_TYPE_CONFIG: &str = "config";
/// Name of the egress-lockdown NetworkPolicy (the original's).
pub const NETWORK_POLICY_NAME: &str = "stoneage";

/// Why a builder could not build an object. Each is a caller bug or a curriculum the
/// validation should have refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The endpoint's image is not among the livelesson's image definitions.
    #[error("endpoint `{endpoint}` uses image `{image}`, which the livelesson does not carry")]
    UnknownImage {
        /// Endpoint name.
        endpoint: String,
        /// Image slug.
        image: String,
    },
    /// A configuration job was asked for an endpoint without a configuration type.
    #[error("endpoint `{endpoint}` has no configuration type")]
    NotConfigurable {
        /// Endpoint name.
        endpoint: String,
    },
    /// The lesson's budget size is not defined.
    #[error(transparent)]
    Budget(crate::backend::budget::UnknownSize),
    /// The endpoint has no configuration file (or napalm driver) for the stage.
    #[error("endpoint `{endpoint}` has no usable configuration file for stage {stage}")]
    NoConfigurationFile {
        /// Endpoint name.
        endpoint: String,
        /// Stage index.
        stage: usize,
    },
}

/// Result of the builders that can fail.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Labels on every object of the livelesson: instance, livelesson, lesson slug, managed
/// markers. Not the session (the original's `liveSession`): a spare of a warm pool is
/// provisioned before it has a learner and changes session when taken, so the session is
/// kept in the scheduler's state only (see [`crate::pool`]).
pub fn common_labels(settings: &Settings, ll: &Livelesson<'_>) -> BTreeMap<String, String> {
    [
        (LABEL_LIVELESSON, ll.id.as_str()),
        (LABEL_LESSON_SLUG, ll.lesson.slug.as_str()),
        (LABEL_MANAGED, YES),
        (LABEL_INSTANCE, settings.instance_id.as_str()),
        (LABEL_MANAGED_BY, MANAGED_BY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Label selector (`key=value,...`) for every namespace of this instance (orphan sweep).
pub fn instance_selector(settings: &Settings) -> String {
    format!(
        "{LABEL_INSTANCE}={},{LABEL_MANAGED}={YES}",
        settings.instance_id
    )
}

/// Label selector for the configuration jobs of a namespace.
pub fn config_jobs_selector() -> String {
    format!("{LABEL_JOB_TYPE}={JOB_TYPE_CONFIG}")
}

/// Metadata in the livelesson's namespace with the common labels plus `extra`.
pub(crate) fn object_meta(
    settings: &Settings,
    ll: &Livelesson<'_>,
    name: impl Into<String>,
    extra: &[(&str, &str)],
) -> ObjectMeta {
    let mut labels = common_labels(settings, ll);
    labels.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(settings.namespace(ll.id)),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// The livelesson's namespace, labelled `name=<namespace>` for the NetworkPolicy.
///
/// No `lastAccessed`/`created` labels: the original never updated `lastAccessed`, and the
/// database, not the cluster, holds activity times (the builders take no clock).
pub fn namespace(settings: &Settings, ll: &Livelesson<'_>) -> Namespace {
    let name = settings.namespace(ll.id);
    let mut meta = object_meta(settings, ll, name.clone(), &[(LABEL_NAME, &name)]);
    // A namespace is cluster-scoped.
    meta.namespace = None;
    Namespace {
        metadata: meta,
        ..Namespace::default()
    }
}

/// The egress lockdown `stoneage`: endpoint pods may reach their own namespace and DNS
/// (TCP and UDP 53 anywhere) only. Configuration pods are exempt so they can fetch
/// packages. The caller skips it when `allow_egress` is set.
pub fn network_policy(settings: &Settings, ll: &Livelesson<'_>) -> NetworkPolicy {
    let ns = settings.namespace(ll.id);
    let requirement = |key: &str, operator: &str| LabelSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: Some(vec![YES.to_owned()]),
    };
    let dns_port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.to_owned()),
        ..NetworkPolicyPort::default()
    };
    NetworkPolicy {
        metadata: object_meta(settings, ll, NETWORK_POLICY_NAME, &[]),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_expressions: Some(vec![
                    requirement(LABEL_MANAGED, "In"),
                    requirement(LABEL_CONFIG_POD, "NotIn"),
                ]),
                match_labels: None,
            }),
            policy_types: Some(vec!["Egress".to_owned()]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(LABEL_NAME.to_owned(), ns)])),
                            match_expressions: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: None,
                },
                NetworkPolicyEgressRule {
                    // An empty selector is every namespace: cluster DNS wherever it runs.
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(LabelSelector::default()),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: Some(vec![dns_port("TCP"), dns_port("UDP")]),
                },
            ]),
            ingress: None,
        }),
    }
}

/// A copy of `source` (from the secrets namespace) for the livelesson's namespace: same
/// name, data, stringData and type; fresh metadata with our labels.
pub fn secret_copy(source: &Secret, settings: &Settings, ll: &Livelesson<'_>) -> Secret {
    let name = source.metadata.name.clone().unwrap_or_default();
    Secret {
        metadata: object_meta(settings, ll, name, &[]),
        data: source.data.clone(),
        string_data: source.string_data.clone(),
        type_: source.type_.clone(),
        immutable: None,
    }
}

/// Quotes `text` for `sh` (single quotes, with embedded quotes spliced in).
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::fixture::Fixture;
    use super::*;

    #[test]
    fn namespace_is_named_and_labelled_for_the_instance_and_livelesson() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let ns = namespace(&fx.settings, &ll);
        assert_eq!(ns.metadata.name.as_deref(), Some("antidote-abcde12345"));
        assert_eq!(ns.metadata.namespace, None);
        let labels = ns.metadata.labels.unwrap();
        assert_eq!(labels["name"], "antidote-abcde12345");
        assert_eq!(labels["liveLesson"], "abcde12345");
        assert!(
            !labels.contains_key("liveSession"),
            "the session is in state only"
        );
        assert_eq!(labels["lessonSlug"], "web-automation");
        assert_eq!(labels["antidoteManaged"], "yes");
        assert_eq!(labels["antidoteId"], "antidote");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "antidote-scheduler");
        assert!(!labels.contains_key("lastAccessed"));
    }

    #[test]
    fn selectors_match_the_labels_they_select() {
        let settings = Settings::default();
        assert_eq!(
            instance_selector(&settings),
            "antidoteId=antidote,antidoteManaged=yes"
        );
        assert_eq!(config_jobs_selector(), "jobType=config");
    }

    #[test]
    fn network_policy_locks_down_endpoint_egress_but_not_config_pods() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let policy = network_policy(&fx.settings, &ll);
        assert_eq!(policy.metadata.name.as_deref(), Some("stoneage"));
        assert_eq!(
            policy.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        assert_eq!(policy.metadata.labels.unwrap()["antidoteManaged"], "yes");
        let spec = policy.spec.unwrap();
        assert_eq!(spec.policy_types.unwrap(), ["Egress"]);
        let exprs = spec.pod_selector.unwrap().match_expressions.unwrap();
        assert_eq!(
            (exprs[0].key.as_str(), exprs[0].operator.as_str()),
            ("antidoteManaged", "In")
        );
        assert_eq!(
            (exprs[1].key.as_str(), exprs[1].operator.as_str()),
            ("configPod", "NotIn")
        );
        assert_eq!(exprs[1].values.as_deref(), Some(&["yes".to_owned()][..]));
        let egress = spec.egress.unwrap();
        assert_eq!(egress.len(), 2);
        let same_ns = egress[0].to.as_ref().unwrap()[0]
            .namespace_selector
            .as_ref()
            .unwrap();
        assert_eq!(
            same_ns.match_labels.as_ref().unwrap()["name"],
            "antidote-abcde12345"
        );
        assert!(egress[0].ports.is_none());
        let dns = &egress[1];
        assert_eq!(
            dns.to.as_ref().unwrap()[0].namespace_selector,
            Some(LabelSelector::default())
        );
        let ports: Vec<_> = dns
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| (p.protocol.clone().unwrap(), p.port.clone().unwrap()))
            .collect();
        assert_eq!(
            ports,
            [
                ("TCP".to_owned(), IntOrString::Int(53)),
                ("UDP".to_owned(), IntOrString::Int(53))
            ]
        );
    }

    #[test]
    fn secret_copy_keeps_content_and_drops_server_metadata() {
        let fx = Fixture::example();
        let ll = fx.livelesson("linux-first-steps");
        let source = Secret {
            metadata: ObjectMeta {
                name: Some("tls-certificate".into()),
                namespace: Some("prod".into()),
                uid: Some("1234".into()),
                resource_version: Some("99".into()),
                labels: Some(BTreeMap::from([("owner".into(), "ops".into())])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                "tls.crt".into(),
                ByteString(b"cert".to_vec()),
            )])),
            string_data: Some(BTreeMap::from([("note".into(), "hi".into())])),
            type_: Some("kubernetes.io/tls".into()),
            immutable: Some(true),
        };
        let copy = secret_copy(&source, &fx.settings, &ll);
        assert_eq!(copy.metadata.name.as_deref(), Some("tls-certificate"));
        assert_eq!(
            copy.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        assert_eq!(copy.metadata.uid, None);
        assert_eq!(copy.metadata.resource_version, None);
        assert_eq!(copy.metadata.labels, Some(common_labels(&fx.settings, &ll)));
        assert_eq!(copy.data, source.data);
        assert_eq!(copy.string_data, source.string_data);
        assert_eq!(copy.type_.as_deref(), Some("kubernetes.io/tls"));
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
