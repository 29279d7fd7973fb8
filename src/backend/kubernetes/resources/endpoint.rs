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

use super::budget::{plan, pod_resources};
use super::files::{copy_files_init_container, files_volume_mount, pod_volumes, pull_policy};
use super::network::nad_name;
use super::{
    Error, LABEL_CONFIG_POD, LABEL_LIVELESSON, LABEL_MANAGED, LABEL_POD_NAME, Result, YES,
    object_meta,
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
    build_pod(settings, ll, shape)
}

/// The jupyter guide's pod: image `<jupyter_image>:<platform_image_tag>` verbatim (the
/// original looked it up as an image slug and crashed), untrusted, on no lab network.
///
/// # Errors
/// [`Error::Budget`] when the lesson's budget size is not defined.
pub fn jupyter_pod(settings: &Settings, ll: &Livelesson<'_>) -> Result<Pod> {
    let shape = PodShape {
        name: JUPYTER_ENDPOINT.to_owned(),
        image: settings.jupyter_image_ref(),
        flavor: JUPYTER_FLAVOR,
        forwarding: false,
        ports: vec![container_port(format!("http-{JUPYTER_PORT}"), JUPYTER_PORT)],
        networks: None,
    };
    build_pod(settings, ll, shape)
}

fn build_pod(settings: &Settings, ll: &Livelesson<'_>, shape: PodShape) -> Result<Pod> {
    let resources = pod_resources(&plan(settings, ll)?);
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
        resources: Some(resources.clone()),
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
    Ok(Pod {
        metadata,
        spec: Some(PodSpec {
            containers: vec![container],
            init_containers: Some(vec![copy_files_init_container(settings, resources)]),
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
    })
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
                        (LABEL_LIVELESSON.to_owned(), ll.id.to_string()),
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
                (LABEL_LIVELESSON.to_owned(), ll.id.to_string()),
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

/// One ingress per http presentation of the endpoint, in presentation order.
pub fn ingresses(settings: &Settings, ll: &Livelesson<'_>, endpoint: &Endpoint) -> Vec<Ingress> {
    endpoint
        .presentations
        .iter()
        .filter(|p| p.kind == PresentationType::Http)
        .map(|p| build_ingress(settings, ll, &endpoint.name, &p.name, p.port))
        .collect()
}

/// The jupyter guide's ingress `jupyterlabguide-web` on [`Settings::guide_domain`].
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
    let host = settings.presentation_host(ll.id, endpoint, presentation);
    // Local domains have no certificate worth redirecting to.
    let local = matches!(
        settings.heps_domain.as_str(),
        "localhost" | "antidote-local"
    );
    let name = names::ingress_name(endpoint, presentation);
    let mut metadata = object_meta(settings, ll, name, &[]);
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

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    fn endpoint<'a>(ll: &Livelesson<'a>, name: &str) -> &'a Endpoint {
        ll.lesson.endpoint(name).unwrap()
    }

    fn spec(pod: &Pod) -> &PodSpec {
        pod.spec.as_ref().unwrap()
    }

    fn port_names(pod: &Pod) -> Vec<(String, i32)> {
        spec(pod).containers[0]
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| (p.name.clone().unwrap(), p.container_port))
            .collect()
    }

    fn networks(pod: &Pod) -> serde_json::Value {
        let text = &pod.metadata.annotations.as_ref().unwrap()[MULTUS_NETWORKS_ANNOTATION];
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn trusted_pod_is_privileged_with_image_interfaces() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let pod = pod(&fx.settings, &ll, endpoint(&ll, "vqfx-1")).unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("vqfx-1"));
        assert_eq!(
            pod.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["podName"], "vqfx-1");
        assert_eq!(labels["liveLesson"], "abcde12345");
        assert_eq!(labels["lessonSlug"], "router-configuration");
        assert_eq!(
            networks(&pod),
            json!([
                { "name": "vqfx-1-vqfx-2-net", "interface": "em3" },
                { "name": "linux1-vqfx-1-net", "interface": "em4" },
            ])
        );
        let spec = spec(&pod);
        let container = &spec.containers[0];
        assert_eq!(container.image.as_deref(), Some("antidotelabs/vqfx:latest"));
        assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));
        let security = container.security_context.as_ref().unwrap();
        assert_eq!(security.privileged, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(true));
        assert_eq!(
            security.capabilities.as_ref().unwrap().add.as_deref(),
            Some(&["NET_ADMIN".to_owned()][..])
        );
        assert_eq!(spec.runtime_class_name, None);
        assert_eq!(spec.security_context, None, "no forwarding sysctls");
        assert_eq!(spec.image_pull_secrets, None);
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(
            port_names(&pod),
            [("ssh-22".to_owned(), 22), ("port-830".to_owned(), 830)]
        );
        assert!(container.resources.as_ref().unwrap().requests.is_some());
        let mounts = container.volume_mounts.as_ref().unwrap();
        assert_eq!(
            (mounts[0].name.as_str(), mounts[0].mount_path.as_str()),
            ("local-copy", "/antidote")
        );
        let init = spec.init_containers.as_ref().unwrap();
        assert_eq!(init[0].name, "copy-lesson-files");
        let volumes: Vec<_> = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(volumes, ["lesson-files", "local-copy"]);
    }

    #[test]
    fn untrusted_pod_runs_unprivileged_under_the_runtime_class_with_multus_numbering() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let pod = pod(&fx.settings, &ll, endpoint(&ll, "linux1")).unwrap();
        let spec = spec(&pod);
        let security = spec.containers[0].security_context.as_ref().unwrap();
        assert_eq!(security.privileged, Some(false));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(
            security.capabilities.as_ref().unwrap().add.as_deref(),
            Some(&["NET_ADMIN".to_owned()][..])
        );
        assert_eq!(spec.runtime_class_name.as_deref(), Some("kata"));
        assert_eq!(
            networks(&pod),
            json!([{ "name": "linux1-vqfx-1-net", "interface": "net1" }])
        );
    }

    #[test]
    fn legacy_pod_is_unprivileged_on_the_default_runtime() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let pod = pod(&fx.settings, &ll, endpoint(&ll, "web")).unwrap();
        let spec = spec(&pod);
        let security = spec.containers[0].security_context.as_ref().unwrap();
        assert_eq!(security.privileged, Some(false));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(spec.runtime_class_name, None);
        assert_eq!(
            port_names(&pod),
            [("http-8080".to_owned(), 8080), ("port-22".to_owned(), 22)]
        );
        assert_eq!(
            pod.metadata.annotations, None,
            "no connections, no networks"
        );
    }

    #[test]
    fn forwarding_image_gets_sysctls_and_interfaces_in_connection_order() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let pod = pod(&fx.settings, &ll, endpoint(&ll, "router")).unwrap();
        let sysctls = spec(&pod)
            .security_context
            .as_ref()
            .unwrap()
            .sysctls
            .clone()
            .unwrap();
        let sysctls: Vec<_> = sysctls.into_iter().map(|s| (s.name, s.value)).collect();
        assert_eq!(
            sysctls,
            [
                ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
                ("net.ipv6.conf.all.forwarding".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(
            networks(&pod),
            json!([
                { "name": "router-linux1-net", "interface": "net1" },
                { "name": "router-backend-net", "interface": "net2" },
            ])
        );
    }

    #[test]
    fn pods_stay_on_one_node_with_their_livelesson() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let pod = pod(&fx.settings, &ll, endpoint(&ll, "linux1")).unwrap();
        let terms = spec(&pod)
            .affinity
            .as_ref()
            .unwrap()
            .pod_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .clone()
            .unwrap();
        assert_eq!(terms.len(), 1);
        assert_eq!(terms[0].topology_key, "kubernetes.io/hostname");
        let selector = terms[0].label_selector.as_ref().unwrap();
        let labels = selector.match_labels.as_ref().unwrap();
        assert_eq!(labels["liveLesson"], "abcde12345");
        assert_eq!(labels["antidoteManaged"], "yes");
        let exprs = selector.match_expressions.as_ref().unwrap();
        assert_eq!(
            (exprs[0].key.as_str(), exprs[0].operator.as_str()),
            ("configPod", "NotIn")
        );
    }

    #[test]
    fn pull_settings_switch_policy_and_secret() {
        let fx = Fixture::example();
        let ll = fx.livelesson("linux-first-steps");
        let settings = Settings {
            always_pull: true,
            pull_cred_name: Some("regcred".into()),
            image_org: "example.org/labs".into(),
            curriculum_version: "v1.2".into(),
            ..fx.settings.clone()
        };
        let pod = pod(&settings, &ll, endpoint(&ll, "linux1")).unwrap();
        let spec = spec(&pod);
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("example.org/labs/utility:v1.2")
        );
        assert_eq!(
            spec.containers[0].image_pull_policy.as_deref(),
            Some("Always")
        );
        let init = &spec.init_containers.as_ref().unwrap()[0];
        assert_eq!(init.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(
            spec.image_pull_secrets,
            Some(vec![LocalObjectReference {
                name: "regcred".into()
            }])
        );
    }

    #[test]
    fn builders_ignore_allow_egress() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let open = Settings {
            allow_egress: true,
            ..fx.settings.clone()
        };
        for ep in &ll.lesson.endpoints {
            assert_eq!(pod(&open, &ll, ep), pod(&fx.settings, &ll, ep));
            assert_eq!(service(&open, &ll, ep), service(&fx.settings, &ll, ep));
        }
    }

    #[test]
    fn missing_image_is_an_error_not_a_panic() {
        let fx = Fixture::example();
        let mut ll = fx.livelesson("linux-first-steps");
        let empty = BTreeMap::new();
        ll.images = &empty;
        assert_eq!(
            pod(&fx.settings, &ll, endpoint(&ll, "linux1")),
            Err(Error::UnknownImage {
                endpoint: "linux1".into(),
                image: "utility".into()
            })
        );
    }

    #[test]
    fn service_selects_the_endpoint_pod_on_every_port() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let svc = service(&fx.settings, &ll, endpoint(&ll, "vqfx-1"));
        assert_eq!(svc.metadata.name.as_deref(), Some("vqfx-1"));
        assert_eq!(
            svc.metadata.labels.as_ref().unwrap()["antidoteId"],
            "antidote"
        );
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        let selector = spec.selector.unwrap();
        assert_eq!(selector["liveLesson"], "abcde12345");
        assert_eq!(selector["podName"], "vqfx-1");
        let ports: Vec<_> = spec
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.port, p.target_port.unwrap()))
            .collect();
        assert_eq!(
            ports,
            [
                ("port-22".to_owned(), 22, IntOrString::Int(22)),
                ("port-830".to_owned(), 830, IntOrString::Int(830))
            ]
        );
    }

    #[test]
    fn http_presentations_get_tls_ingresses_of_the_configured_class() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        assert!(ingresses(&fx.settings, &ll, endpoint(&ll, "linux1")).is_empty());
        let all = ingresses(&fx.settings, &ll, endpoint(&ll, "web"));
        assert_eq!(all.len(), 1);
        let ing = &all[0];
        assert_eq!(ing.metadata.name.as_deref(), Some("web-site"));
        assert_eq!(
            ing.metadata.labels.as_ref().unwrap()["liveLesson"],
            "abcde12345"
        );
        let annotations = ing.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations["nginx.ingress.kubernetes.io/ssl-redirect"],
            "false"
        );
        assert_eq!(
            annotations["nginx.ingress.kubernetes.io/configuration-snippet"],
            "proxy_hide_header X-Frame-Options;"
        );
        assert!(
            annotations
                .keys()
                .all(|k| k.starts_with("nginx.ingress.kubernetes.io/"))
        );
        let spec = ing.spec.as_ref().unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let host = "antidote-abcde12345-web-site.localhost";
        let tls = &spec.tls.as_ref().unwrap()[0];
        assert_eq!(tls.hosts.as_deref(), Some(&[host.to_owned()][..]));
        assert_eq!(tls.secret_name.as_deref(), Some("tls-certificate"));
        let rule = &spec.rules.as_ref().unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some(host));
        let path = &rule.http.as_ref().unwrap().paths[0];
        assert_eq!(path.path.as_deref(), Some("/"));
        assert_eq!(path.path_type, "Prefix");
        let backend = path.backend.service.as_ref().unwrap();
        assert_eq!(backend.name, "web");
        assert_eq!(backend.port.as_ref().unwrap().number, Some(8080));
    }

    #[test]
    fn public_domains_redirect_to_https_with_the_configured_certificate() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let settings = Settings {
            heps_domain: "labs.example.org".into(),
            tls_cert_name: "labs-cert".into(),
            ingress_class: "public".into(),
            ..fx.settings.clone()
        };
        let ing = &ingresses(&settings, &ll, endpoint(&ll, "web"))[0];
        let annotations = ing.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations["nginx.ingress.kubernetes.io/ssl-redirect"],
            "true"
        );
        let spec = ing.spec.as_ref().unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("public"));
        let tls = &spec.tls.as_ref().unwrap()[0];
        assert_eq!(tls.secret_name.as_deref(), Some("labs-cert"));
        assert_eq!(
            spec.rules.as_ref().unwrap()[0].host.as_deref(),
            Some("antidote-abcde12345-web-site.labs.example.org")
        );
        let local = Settings {
            heps_domain: "antidote-local".into(),
            ..settings
        };
        let ing = &ingresses(&local, &ll, endpoint(&ll, "web"))[0];
        assert_eq!(
            ing.metadata.annotations.as_ref().unwrap()["nginx.ingress.kubernetes.io/ssl-redirect"],
            "false"
        );
    }

    #[test]
    fn jupyter_guide_uses_its_image_verbatim_under_the_untrusted_runtime() {
        let fx = Fixture::example();
        let ll = fx.livelesson("notebook-automation");
        assert!(ll.lesson.uses_jupyter());
        let pod = jupyter_pod(&fx.settings, &ll).expect("jupyter pod");
        assert_eq!(pod.metadata.name.as_deref(), Some("jupyterlabguide"));
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()["podName"],
            "jupyterlabguide"
        );
        assert_eq!(pod.metadata.annotations, None);
        let spec = spec(&pod);
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("antidotelabs/jupyter:latest")
        );
        assert_eq!(spec.runtime_class_name.as_deref(), Some("kata"));
        assert_eq!(
            spec.containers[0]
                .security_context
                .as_ref()
                .unwrap()
                .privileged,
            Some(false)
        );
        assert_eq!(port_names(&pod), [("http-8888".to_owned(), 8888)]);
        assert!(
            spec.init_containers.is_some(),
            "the notebooks come from the lesson files"
        );

        let svc = jupyter_service(&fx.settings, &ll);
        assert_eq!(svc.metadata.name.as_deref(), Some("jupyterlabguide"));
        let svc_spec = svc.spec.unwrap();
        assert_eq!(svc_spec.selector.unwrap()["podName"], "jupyterlabguide");
        assert_eq!(svc_spec.ports.unwrap()[0].port, 8888);

        let ing = jupyter_ingress(&fx.settings, &ll);
        assert_eq!(ing.metadata.name.as_deref(), Some("jupyterlabguide-web"));
        let domain = fx.settings.guide_domain(ll.id);
        assert_eq!(domain, "antidote-abcde12345-jupyterlabguide-web.localhost");
        let rule = &ing.spec.as_ref().unwrap().rules.as_ref().unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some(domain.as_str()));
        let backend = rule.http.as_ref().unwrap().paths[0]
            .backend
            .service
            .clone()
            .unwrap();
        assert_eq!(backend.name, "jupyterlabguide");
        assert_eq!(backend.port.unwrap().number, Some(8888));
    }

    #[test]
    fn port_names_fit_iana_service_names_for_any_port() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let web = endpoint(&ll, "web");
        for port in [1, 22, 8080, 65535] {
            let name = container_port_name(web, port);
            assert!(name.len() <= 15, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
        }
        assert_eq!(container_port_name(web, 8080), "http-8080");
        assert_eq!(container_port_name(endpoint(&ll, "linux1"), 22), "ssh-22");
    }
}
