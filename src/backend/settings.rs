//! Backend settings. Every value the original hard-coded or read from its config is here,
//! with the original's default unless a comment says why not.

use std::time::Duration;

use crate::ids::LivelessonId;
use serde::{Deserialize, Serialize};

/// Settings of the Kubernetes backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// Prefix of namespace names and ingress hosts, and a label value (original
    /// `instanceId`; required there, defaulted here for the demo).
    pub instance_id: String,
    /// Parent domain of http-presentation and jupyter ingress hosts (`hepsDomain`).
    pub heps_domain: String,
    /// The port learners' browsers reach those hosts on, when it is not the scheme's
    /// default: the `HepDomain` and `GuideDomain` the API reports then end in `:<port>`
    /// (the front end makes them `http://<domain>/` URLs); ingress hosts stay bare. The
    /// demo sets it to its presentation proxy's port. None in production (port 80/443).
    pub heps_port: Option<u16>,
    /// Registry organisation of endpoint images (`imageOrg`).
    pub image_org: String,
    /// Tag of endpoint images (`curriculumVersion`).
    pub curriculum_version: String,
    /// Tag of the platform images, configurator and jupyter (the original's build
    /// `imageVersion`).
    pub platform_image_tag: String,
    /// Pull policy Always instead of IfNotPresent (`alwaysPull`).
    pub always_pull: bool,
    /// No egress-lockdown NetworkPolicy (`allowEgress`).
    pub allow_egress: bool,
    /// Namespace holding the secrets copied into every livelesson namespace
    /// (`secretsNamespace`).
    pub secrets_namespace: String,
    /// TLS secret copied into each namespace and used by ingresses (`tlsCertName`; the
    /// original ignored it for ingresses, a bug).
    pub tls_cert_name: String,
    /// Optional image-pull secret copied and attached to endpoint pods (`pullCredName`).
    pub pull_cred_name: Option<String>,
    /// `ingressClassName` of ingresses (the original used a non-standard annotation).
    pub ingress_class: String,
    /// Runtime class of `untrusted` images.
    pub untrusted_runtime_class: String,
    /// Image of the init container that copies the lesson files (pinned; the original ran
    /// an unpinned `bash`).
    pub init_image: String,
    /// Image of configuration jobs, without tag.
    pub configurator_image: String,
    /// Image of the jupyter guide endpoint, without tag.
    pub jupyter_image: String,
    /// Subnet of connections that name none.
    pub default_subnet: String,
    /// Configuration jobs' `backoffLimit` (the original's JobBackoff).
    pub job_backoff_limit: i32,
    /// Where lesson files appear in endpoint and configuration pods.
    pub files_mount_path: String,
    /// Waiting for pods to run (original: 150 polls, 2 s apart).
    #[serde(with = "humantime_secs")]
    pub pod_ready_timeout: Duration,
    /// Waiting for every endpoint to be reachable (original: 600 s).
    #[serde(with = "humantime_secs")]
    pub reachability_timeout: Duration,
    /// One reachability probe (original: 2 s dial within a 5 s attempt).
    #[serde(with = "humantime_secs")]
    pub probe_timeout: Duration,
    /// Waiting for the previous stage's configuration jobs to go (original: 60 × 1 s).
    #[serde(with = "humantime_secs")]
    pub job_cleanup_timeout: Duration,
    /// Waiting for configuration jobs (original: 600 × 1 s).
    #[serde(with = "humantime_secs")]
    pub config_timeout: Duration,
    /// Waiting for a deleted namespace to be gone (original: 120 s).
    #[serde(with = "humantime_secs")]
    pub namespace_delete_timeout: Duration,
    /// One call to the Kubernetes API (the original had none: a call to an API server
    /// whose etcd is away could hang its lab for minutes).
    #[serde(with = "humantime_secs")]
    pub api_call_timeout: Duration,
}

impl Settings {
    /// The namespace of livelesson `livelesson_id`: `<instanceId>-<id>`.
    pub fn namespace(&self, livelesson_id: &LivelessonId) -> String {
        crate::curriculum::names::namespace(&self.instance_id, livelesson_id.as_str())
    }

    /// The host of an http presentation:
    /// `<namespace>-<endpoint>-<presentation>.<hepsDomain>`.
    pub fn presentation_host(
        &self,
        livelesson_id: &LivelessonId,
        endpoint: &str,
        presentation: &str,
    ) -> String {
        let namespace = self.namespace(livelesson_id);
        format!(
            "{}.{}",
            crate::curriculum::names::ingress_host_label(&namespace, endpoint, presentation),
            self.heps_domain
        )
    }

    /// Where a learner's browser reaches ingress host `host`: `host`, or `host:<hepsPort>`.
    pub fn browser_address(&self, host: String) -> String {
        match self.heps_port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// The jupyter guide's host: `<namespace>-jupyterlabguide-web.<hepsDomain>`.
    pub fn guide_domain(&self, livelesson_id: &LivelessonId) -> String {
        use crate::curriculum::names::{JUPYTER_ENDPOINT, JUPYTER_PRESENTATION};
        self.presentation_host(livelesson_id, JUPYTER_ENDPOINT, JUPYTER_PRESENTATION)
    }

    /// The jupyter guide's image, `<jupyterImage>:<platformImageTag>` (a reference, not an
    /// image slug of the curriculum).
    pub fn jupyter_image_ref(&self) -> String {
        format!("{}:{}", self.jupyter_image, self.platform_image_tag)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            instance_id: "antidote".into(),
            heps_domain: "localhost".into(),
            heps_port: None,
            image_org: "antidotelabs".into(),
            curriculum_version: "latest".into(),
            platform_image_tag: "latest".into(),
            always_pull: false,
            allow_egress: false,
            secrets_namespace: "prod".into(),
            tls_cert_name: "tls-certificate".into(),
            pull_cred_name: None,
            ingress_class: "nginx".into(),
            untrusted_runtime_class: "kata".into(),
            init_image: "busybox:1.36".into(),
            configurator_image: "antidotelabs/configurator".into(),
            jupyter_image: "antidotelabs/jupyter".into(),
            default_subnet: "169.0.0.0/16".into(),
            job_backoff_limit: 3,
            files_mount_path: "/antidote".into(),
            pod_ready_timeout: Duration::from_secs(300),
            reachability_timeout: Duration::from_secs(600),
            probe_timeout: Duration::from_secs(2),
            job_cleanup_timeout: Duration::from_secs(60),
            config_timeout: Duration::from_secs(600),
            namespace_delete_timeout: Duration::from_secs(120),
            api_call_timeout: Duration::from_secs(30),
        }
    }
}

/// Durations as whole or fractional seconds in configuration files.
mod humantime_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
