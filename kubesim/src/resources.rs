//! The table of served resources: group, version, plural, kind, scope and naming rule.

/// Which upstream name rule a resource's `metadata.name` must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 label (namespaces).
    Dns1123Label,
    /// DNS-1035 label (services).
    Dns1035Label,
    /// DNS-1123 subdomain (most objects).
    Dns1123Subdomain,
}

/// A resource kind served by kubesim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group, empty for core.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name used in paths.
    pub plural: &'static str,
    /// Singular name for discovery.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Name rule.
    pub name_rule: NameRule,
    /// Whether a `status` subresource exists (main-resource writes then keep the old status).
    pub has_status: bool,
    /// Short names for discovery.
    pub short_names: &'static [&'static str],
}

impl ResourceDef {
    /// `apiVersion` string of objects of this resource.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

#[allow(clippy::too_many_arguments)] // a positional table row reads better than a builder here
const fn def(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    name_rule: NameRule,
    has_status: bool,
    short_names: &'static [&'static str],
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        name_rule,
        has_status,
        short_names,
    }
}

/// Every resource kubesim serves.
#[rustfmt::skip]
pub static RESOURCES: &[ResourceDef] = &[
    def("", "v1", "namespaces", "namespace", "Namespace", false, NameRule::Dns1123Label, true, &["ns"]),
    def("", "v1", "pods", "pod", "Pod", true, NameRule::Dns1123Subdomain, true, &["po"]),
    def("", "v1", "services", "service", "Service", true, NameRule::Dns1035Label, true, &["svc"]),
    def("", "v1", "secrets", "secret", "Secret", true, NameRule::Dns1123Subdomain, false, &[]),
    def("", "v1", "configmaps", "configmap", "ConfigMap", true, NameRule::Dns1123Subdomain, false, &["cm"]),
    def("", "v1", "events", "event", "Event", true, NameRule::Dns1123Subdomain, false, &["ev"]),
    def("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true, NameRule::Dns1123Subdomain, false, &["netpol"]),
    def("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, NameRule::Dns1123Subdomain, true, &["ing"]),
    def("batch", "v1", "jobs", "job", "Job", true, NameRule::Dns1123Subdomain, true, &[]),
    def("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "network-attachment-definition", "NetworkAttachmentDefinition", true, NameRule::Dns1123Subdomain, false, &["net-attach-def"]),
    def("", "v1", "nodes", "node", "Node", false, NameRule::Dns1123Subdomain, true, &["no"]),
    def("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, NameRule::Dns1123Subdomain, true, &["quota"]),
    def("", "v1", "limitranges", "limitrange", "LimitRange", true, NameRule::Dns1123Subdomain, false, &["limits"]),
];

/// Looks a resource up by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by the `apiVersion` and `kind` of one of its objects.
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Index of a resource in [`RESOURCES`], used as a compact store key.
pub fn index_of(plural: &str, group: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.plural == plural && r.group == group)
}

/// The namespace resource.
pub fn namespaces() -> &'static ResourceDef {
    &RESOURCES[0]
}
/// The pod resource.
pub fn pods() -> &'static ResourceDef {
    &RESOURCES[1]
}
/// The service resource.
pub fn services() -> &'static ResourceDef {
    &RESOURCES[2]
}
/// The job resource.
pub fn jobs() -> &'static ResourceDef {
    &RESOURCES[8]
}
/// The node resource.
pub fn nodes() -> &'static ResourceDef {
    &RESOURCES[10]
}
/// The resource quota resource.
pub fn resource_quotas() -> &'static ResourceDef {
    &RESOURCES[11]
}
