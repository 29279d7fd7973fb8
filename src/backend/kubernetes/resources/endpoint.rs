//! Endpoints: one pod, one ClusterIP service named after it (its DNS name in the lab), and
//! an ingress per http presentation. Also the jupyter guide endpoint.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, LocalObjectReference, Pod, PodAffinity,
    PodAffinityTerm, PodSecurityContext, PodSpec, SecurityContext, Service, ServicePort,
    ServiceSpec, Sysctl,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::files::{
    copy_files_init_container, files_volume_mount, pod_volumes, pull_policy, requests,
};
use super::network::nad_name;
use super::{
    Error, LABEL_CONFIG_POD, LABEL_LIVELESSON, LABEL_LIVESESSION, LABEL_MANAGED, LABEL_POD_NAME,
    Result, YES, namespace_name, object_meta,
};
use crate::backend::{Livelesson, Settings};
use crate::curriculum::names::{self, JUPYTER_ENDPOINT, JUPYTER_PRESENTATION};
use crate::curriculum::{Endpoint, Flavor, PresentationType};

/// Pod annotation listing the Multus networks to attach.
pub const MULTUS_NETWORKS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/networks";
/// Port of the jupyter guide.
pub const JUPYTER_PORT: u16 = 8888;
/// Flavor of the jupyter guide (the original's default for it).
pub const JUPYTER_FLAVOR: Flavor = Flavor::Untrusted;

/// What differs between an endpoint pod and the jupyter pod.
struct PodShape {
    name: String,
    image: String,
    flavor: Flavor,
    forwarding: bool,
    ports: Vec<ContainerPort>,
    networks: Option<String>,
}

/// The pod of a lesson endpoint (create them in lesson order: host-local IPAM hands out
/// addresses in creation order, and lessons rely on it).
///
/// # Errors
///
/// [`Error::UnknownImage`] when the livelesson carries no definition of the endpoint's image.
pub fn pod(settings: &Settings, ll: &Livelesson<'_>, endpoint: &Endpoint) -> Result<Pod> {
    let image = ll
        .images
        .get(&endpoint.image)
        .ok_or_else(|| Error::UnknownImage {
            endpoint: endpoint.name.clone(),
            image: endpoint.image.clone(),
        })?;
    let ports = endpoint
        .ports()
        .into_iter()
        .map(|port| container_port(container_port_name(endpoint, port), port))
        .collect();
    let networks: Vec<_> = ll
        .lesson
        .connections
        .iter()
        .filter(|c| c.a == endpoint.name || c.b == endpoint.name)
        .enumerate()
        .map(|(n, connection)| {
            // Multus itself names extra interfaces net1, net2, ... when none is given. The
            // original regressed to sending net0, net1, ...; images without
            // `networkInterfaces` were written against net1 onwards.
            let interface = image
                .network_interfaces
                .get(n)
                .cloned()
                .unwrap_or_else(|| format!("net{}", n + 1));
            json!({ "name": nad_name(connection), "interface": interface })
        })
        .collect();
    let shape = PodShape {
        name: endpoint.name.clone(),
        image: format!(
            "{}/{}:{}",
            settings.image_org, image.slug, settings.curriculum_version
        ),
        flavor: image.flavor,
        forwarding: image.enable_forwarding,
        ports,
        networks: (!networks.is_empty()).then(|| serde_json::Value::from(networks).to_string()),
    };
    Ok(build_pod(settings, ll, shape))
}

/// The jupyter guide's pod: image `<jupyter_image>:<platform_image_tag>` verbatim (the
/// original looked it up as an image slug and crashed), untrusted, on no lab network.
pub fn jupyter_pod(settings: &Settings, ll: &Livelesson<'_>) -> Pod {
    let shape = PodShape {
        name: JUPYTER_ENDPOINT.to_owned(),
        image: format!("{}:{}", settings.jupyter_image, settings.platform_image_tag),
        flavor: JUPYTER_FLAVOR,
        forwarding: false,
        ports: vec![container_port(format!("http-{JUPYTER_PORT}"), JUPYTER_PORT)],
        networks: None,
    };
    build_pod(settings, ll, shape)
}

fn build_pod(settings: &Settings, ll: &Livelesson<'_>, shape: PodShape) -> Pod {
    let mut metadata = object_meta(
        settings,
        ll,
        shape.name.clone(),
        &[(LABEL_POD_NAME, &shape.name)],
    );
    if let Some(networks) = shape.networks {
        metadata.annotations = Some(BTreeMap::from([(
            MULTUS_NETWORKS_ANNOTATION.to_owned(),
            networks,
        )]));
    }
    let trusted = shape.flavor == Flavor::Trusted;
    let container = Container {
        name: shape.name.clone(),
        image: Some(shape.image),
        image_pull_policy: Some(pull_policy(settings).to_owned()),
        ports: Some(shape.ports),
        security_context: Some(SecurityContext {
            privileged: Some(trusted),
            allow_privilege_escalation: Some(trusted),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_ADMIN".to_owned()]),
                drop: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![files_volume_mount(settings)]),
        resources: Some(requests("100m", "128Mi")),
        ..Container::default()
    };
    let sysctls = shape.forwarding.then(|| {
        ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
            .into_iter()
            .map(|name| Sysctl {
                name: name.to_owned(),
                value: "1".to_owned(),
            })
            .collect()
    });
    Pod {
        metadata,
        spec: Some(PodSpec {
            containers: vec![container],
            init_containers: Some(vec![copy_files_init_container(settings)]),
            volumes: Some(pod_volumes(ll)),
            restart_policy: Some("Always".to_owned()),
            runtime_class_name: (shape.flavor == Flavor::Untrusted)
                .then(|| settings.untrusted_runtime_class.clone()),
            security_context: sysctls.map(|sysctls| PodSecurityContext {
                sysctls: Some(sysctls),
                ..PodSecurityContext::default()
            }),
            image_pull_secrets: settings
                .pull_cred_name
                .as_ref()
                .map(|name| vec![LocalObjectReference { name: name.clone() }]),
            affinity: Some(same_node_affinity(ll)),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// All of a livelesson's endpoint pods on one node: the lab bridges are node-local.
/// Configuration pods carry the livelesson labels too but run anywhere, so they are
/// excluded from the term.
fn same_node_affinity(ll: &Livelesson<'_>) -> Affinity {
    Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([
                        (LABEL_LIVELESSON.to_owned(), ll.id.to_owned()),
                        (LABEL_LIVESESSION.to_owned(), ll.session_id.to_owned()),
                        (LABEL_MANAGED.to_owned(), YES.to_owned()),
                    ])),
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: LABEL_CONFIG_POD.to_owned(),
                        operator: "NotIn".to_owned(),
                        values: Some(vec![YES.to_owned()]),
                    }]),
                }),
                topology_key: "kubernetes.io/hostname".to_owned(),
                ..PodAffinityTerm::default()
            }]),
            ..PodAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn container_port(name: String, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name),
        container_port: i32::from(port),
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// Name of an endpoint's container port: `ssh-<n>` or `http-<n>` after the first
/// presentation on that port, else `port-<n>` (at most 10 characters, a valid
/// IANA_SVC_NAME). kubesim's kubelet answers HTTP on ports named `http...`.
pub fn container_port_name(endpoint: &Endpoint, port: u16) -> String {
    let kind = endpoint
        .presentations
        .iter()
        .find(|p| p.port == port)
        .map(|p| p.kind);
    match kind {
        Some(PresentationType::Ssh) => format!("ssh-{port}"),
        Some(PresentationType::Http) => format!("http-{port}"),
        None => format!("port-{port}"),
    }
}

/// The endpoint's ClusterIP service, named after it so lab scripts reach `<endpoint>:<port>`.
pub fn service(settings: &Settings, ll: &Livelesson<'_>, endpoint: &Endpoint) -> Service {
    build_service(settings, ll, &endpoint.name, &endpoint.ports())
}

/// The jupyter guide's service `jupyterlabguide` on 8888.
pub fn jupyter_service(settings: &Settings, ll: &Livelesson<'_>) -> Service {
    build_service(settings, ll, JUPYTER_ENDPOINT, &[JUPYTER_PORT])
}

fn build_service(settings: &Settings, ll: &Livelesson<'_>, name: &str, ports: &[u16]) -> Service {
    Service {
        metadata: object_meta(settings, ll, name, &[]),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(BTreeMap::from([
                (LABEL_LIVELESSON.to_owned(), ll.id.to_owned()),
                (LABEL_POD_NAME.to_owned(), name.to_owned()),
            ])),
            ports: Some(
                ports
                    .iter()
                    .map(|&port| ServicePort {
                        name: Some(format!("port-{port}")),
                        port: i32::from(port),
                        target_port: Some(IntOrString::Int(i32::from(port))),
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Host of an http presentation: `<namespace>-<endpoint>-<presentation>.<heps_domain>`.
pub fn ingress_host(
    settings: &Settings,
    ll_id: &str,
    endpoint: &str,
    presentation: &str,
) -> String {
    let ns = namespace_name(settings, ll_id);
    format!(
        "{}.{}",
        names::ingress_host_label(&ns, endpoint, presentation),
        settings.heps_domain
    )
}

/// Host of the jupyter guide, `<namespace>-jupyterlabguide-web.<heps_domain>`.
pub fn guide_domain(settings: &Settings, ll_id: &str) -> String {
    ingress_host(settings, ll_id, JUPYTER_ENDPOINT, JUPYTER_PRESENTATION)
}

/// One ingress per http presentation of the endpoint, in presentation order.
pub fn ingresses(settings: &Settings, ll: &Livelesson<'_>, endpoint: &Endpoint) -> Vec<Ingress> {
    endpoint
        .presentations
        .iter()
        .filter(|p| p.kind == PresentationType::Http)
        .map(|p| build_ingress(settings, ll, &endpoint.name, &p.name, p.port))
        .collect()
}

/// The jupyter guide's ingress `jupyterlabguide-web` on [`guide_domain`].
pub fn jupyter_ingress(settings: &Settings, ll: &Livelesson<'_>) -> Ingress {
    build_ingress(
        settings,
        ll,
        JUPYTER_ENDPOINT,
        JUPYTER_PRESENTATION,
        JUPYTER_PORT,
    )
}

fn build_ingress(
    settings: &Settings,
    ll: &Livelesson<'_>,
    endpoint: &str,
    presentation: &str,
    port: u16,
) -> Ingress {
    let host = ingress_host(settings, ll.id, endpoint, presentation);
    // Local domains have no certificate worth redirecting to.
    let local = matches!(
        settings.heps_domain.as_str(),
        "localhost" | "antidote-local"
    );
    let mut metadata = object_meta(settings, ll, format!("{endpoint}-{presentation}"), &[]);
    // One controller, one prefix: the original mixed `ingress.kubernetes.io/` (which
    // ingress-nginx ignores) with `nginx.ingress.kubernetes.io/`. The snippet lets lessons
    // show pages in iframes; ingress-nginx >= 1.9 needs `allow-snippet-annotations`.
    metadata.annotations = Some(BTreeMap::from([
        (
            "nginx.ingress.kubernetes.io/ssl-redirect".to_owned(),
            (!local).to_string(),
        ),
        (
            "nginx.ingress.kubernetes.io/configuration-snippet".to_owned(),
            "proxy_hide_header X-Frame-Options;".to_owned(),
        ),
    ]));
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: Some(settings.ingress_class.clone()),
            tls: Some(vec![IngressTLS {
                hosts: Some(vec![host.clone()]),
                secret_name: Some(settings.tls_cert_name.clone()),
            }]),
            rules: Some(vec![IngressRule {
                host: Some(host),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: endpoint.to_owned(),
                                port: Some(ServiceBackendPort {
                                    number: Some(i32::from(port)),
                                    name: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            default_backend: None,
        }),
        status: None,
    }
}
