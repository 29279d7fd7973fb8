//! Typed curriculum definitions, as they are after validation.
//!
//! Serde names are the original's YAML keys (camelCase), so the jsonb stored by
//! `store::curriculum` reads like the `*.meta.yaml` files it came from.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Declares a closed set of YAML string values with its parser and its list of allowed
/// values (which validation prints when a value is wrong).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every allowed YAML value, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The YAML value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the YAML value; `None` when it is not one of [`Self::ALL`].
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Deployment tier. Ordered `Local < Ptr < Prod`: an instance configured for tier `t`
    /// imports lessons whose tier is at least `t`.
    #[derive(PartialOrd, Ord)]
    Tier {
        /// Only on a developer's own instance.
        Local = "local",
        /// Public test realm.
        Ptr = "ptr",
        /// Production.
        Prod = "prod",
    }
}

string_enum! {
    /// How an image's pods are isolated.
    Flavor {
        /// Privileged on the default runtime (images that bring their own VM).
        Trusted = "trusted",
        /// Unprivileged under the Kata runtime class.
        Untrusted = "untrusted",
        /// Deprecated: unprivileged with NET_ADMIN on the default runtime.
        Legacy = "legacy",
    }
}

string_enum! {
    /// Lesson category.
    Category {
        /// Fundamentals.
        Fundamentals = "fundamentals",
        /// Tools.
        Tools = "tools",
        /// Workflows.
        Workflows = "workflows",
    }
}

string_enum! {
    /// Kind of organisation behind a collection.
    CollectionType {
        /// A vendor.
        Vendor = "vendor",
        /// A community.
        Community = "community",
        /// A consultancy.
        Consultancy = "consultancy",
    }
}

string_enum! {
    /// Format of a stage's guide.
    GuideType {
        /// `stageN/guide.md`.
        Markdown = "markdown",
        /// `stageN/guide.ipynb`, served by the synthetic jupyter endpoint.
        Jupyter = "jupyter",
    }
}

string_enum! {
    /// How an endpoint is configured at each stage.
    ConfigurationType {
        /// `configs/<endpoint>-<driver>.txt` pushed with NAPALM.
        Napalm = "napalm",
        /// `configs/<endpoint>.py` run with python.
        Python = "python",
        /// `configs/<endpoint>.yml` run with ansible-playbook.
        Ansible = "ansible",
    }
}

string_enum! {
    /// How a presentation is shown to the learner.
    PresentationType {
        /// An iframe behind an ingress.
        Http = "http",
        /// A terminal through the web SSH proxy.
        Ssh = "ssh",
    }
}

string_enum! {
    /// NAPALM driver, taken from the configuration file name `<endpoint>-<driver>.txt`.
    NapalmDriver {
        /// Junos.
        Junos = "junos",
        /// Arista EOS.
        Eos = "eos",
        /// Cisco IOS-XR.
        Iosxr = "iosxr",
        /// Cisco NX-OS (NX-API).
        Nxos = "nxos",
        /// Cisco NX-OS over SSH.
        NxosSsh = "nxos_ssh",
        /// Cisco IOS.
        Ios = "ios",
    }
}

/// A whole validated curriculum: what `antidoted curriculum import` stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curriculum {
    /// `curriculum.meta.yaml`.
    pub meta: CurriculumMeta,
    /// Collections at or above the configured tier, sorted by file path.
    pub collections: Vec<Collection>,
    /// Every valid image, sorted by file path.
    pub images: Vec<Image>,
    /// Valid lessons at or above the configured tier, sorted by file path.
    pub lessons: Vec<Lesson>,
}

impl Curriculum {
    /// The image with this slug.
    pub fn image(&self, slug: &str) -> Option<&Image> {
        self.images.iter().find(|image| image.slug == slug)
    }

    /// The lesson with this slug.
    pub fn lesson(&self, slug: &str) -> Option<&Lesson> {
        self.lessons.iter().find(|lesson| lesson.slug == slug)
    }

    /// The image definitions `lesson`'s endpoints use, by slug, as a livelesson copies them.
    pub fn images_of(&self, lesson: &Lesson) -> std::collections::BTreeMap<String, Image> {
        lesson
            .endpoints
            .iter()
            .filter_map(|endpoint| self.image(&endpoint.image))
            .map(|image| (image.slug.clone(), image.clone()))
            .collect()
    }
}

/// `curriculum.meta.yaml`: what the curriculum is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurriculumMeta {
    /// Short name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Home page.
    pub website: String,
    /// Antidote version the curriculum targets (informational, as in the original).
    pub a_ver: String,
    /// Repository URL.
    pub git_root: String,
}

/// `collections/**/collection.meta.yaml`: a group of lessons from one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    /// Identifier (`[a-z-]+`), referenced by `Lesson::collection`.
    pub slug: String,
    /// Display title.
    pub title: String,
    /// Logo URL.
    pub image: String,
    /// Home page.
    pub website: String,
    /// Contact address (free text, may be empty).
    pub contact_email: String,
    /// Short pitch.
    pub brief_description: String,
    /// Long description.
    pub long_description: String,
    /// Kind of organisation.
    #[serde(rename = "type")]
    pub kind: CollectionType,
    /// Tier.
    pub tier: Tier,
}

/// `images/**/image.meta.yaml`: how to run an endpoint image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Identifier and registry image name, referenced by `Endpoint::image`.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// Isolation.
    pub flavor: Flavor,
    /// Turn on IPv4 and IPv6 forwarding sysctls in the pod.
    pub enable_forwarding: bool,
    /// Names of the extra (Multus) interfaces, in connection order. Never contains `eth0`.
    pub network_interfaces: Vec<String>,
    /// User for the web SSH proxy.
    pub ssh_user: String,
    /// Password for the web SSH proxy.
    pub ssh_password: Secret,
    /// User for configuration jobs.
    pub config_user: String,
    /// Password for configuration jobs.
    pub config_password: Secret,
}

/// `lessons/**/lesson.meta.yaml` plus its guides and configuration files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lesson {
    /// Display name.
    pub name: String,
    /// Identifier (`[a-z-]+`, at most 63 characters because it is a label value).
    pub slug: String,
    /// Category.
    pub category: Category,
    /// Diagram URL.
    pub diagram: Option<String>,
    /// Video URL.
    pub video: Option<String>,
    /// Tier.
    pub tier: Tier,
    /// Slug of an existing collection.
    pub collection: Option<String>,
    /// Long description.
    pub description: String,
    /// Short description.
    pub short_description: String,
    /// Slugs of imported lessons to take first.
    pub prereqs: Vec<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// At least one stage; stage `i` lives in `stage<i>/`.
    pub stages: Vec<Stage>,
    /// At least one endpoint, in provisioning order.
    pub endpoints: Vec<Endpoint>,
    /// Point-to-point links between endpoints.
    pub connections: Vec<Connection>,
    /// Authors.
    pub authors: Vec<Author>,
    /// Seconds to wait after configuration before the livelesson is READY (0..=3600).
    pub ready_delay: u32,
    /// Resource budget size (`small`, `medium`, ... or one the operator defines); `None`
    /// takes the configured default. Absent from the stored definition when unset, so
    /// lessons written before budgets keep their content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Guides and configuration files: path relative to the lesson directory (for example
    /// `stage0/guide.md`, `stage1/configs/r1-junos.txt`) to text. Stored beside the
    /// definition rather than inside it, hence not serialized here.
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
}

impl Lesson {
    /// Whether any stage uses a jupyter guide (the scheduler then adds the jupyter endpoint).
    pub fn uses_jupyter(&self) -> bool {
        self.stages
            .iter()
            .any(|stage| stage.guide_type == GuideType::Jupyter)
    }

    /// The guide text of stage `stage`.
    pub fn guide(&self, stage: usize) -> Option<&str> {
        let path = self.stages.get(stage)?.guide_path(stage);
        self.files.get(&path).map(String::as_str)
    }

    /// The endpoint named `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.name == name)
    }

    /// The text of `endpoint`'s configuration file at `stage`.
    pub fn configuration_text(&self, endpoint: &Endpoint, stage: usize) -> Option<&str> {
        let file = endpoint.configuration_files.get(stage)?;
        self.files.get(&file.path(stage)).map(String::as_str)
    }
}

/// One step of a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// What the stage covers.
    pub description: String,
    /// Guide format.
    pub guide_type: GuideType,
    /// Video URL.
    pub stage_video: Option<String>,
}

impl Stage {
    /// The guide's path relative to the lesson directory, for stage index `index`.
    pub fn guide_path(&self, index: usize) -> String {
        match self.guide_type {
            GuideType::Markdown => format!("stage{index}/guide.md"),
            GuideType::Jupyter => format!("stage{index}/guide.ipynb"),
        }
    }
}

/// A lab device or host: one pod, one service named after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Pod, service and DNS name (a DNS-1035 label).
    pub name: String,
    /// Slug of an existing image.
    pub image: String,
    /// How the endpoint is configured, if at all.
    pub configuration_type: Option<ConfigurationType>,
    /// Ports to open besides the presentation ports.
    pub additional_ports: Vec<u16>,
    /// How the learner reaches the endpoint.
    pub presentations: Vec<Presentation>,
    /// Configuration file of each stage (index = stage) when `configuration_type` is set;
    /// empty otherwise.
    pub configuration_files: Vec<ConfigurationFile>,
}

impl Endpoint {
    /// Presentation ports then additional ports, without repeats, in that order.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = Vec::new();
        let all = self
            .presentations
            .iter()
            .map(|presentation| presentation.port)
            .chain(self.additional_ports.iter().copied());
        for port in all {
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        ports
    }
}

/// An endpoint's configuration file for one stage, found in `stage<N>/configs/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationFile {
    /// Bare file name, e.g. `r1-junos.txt`, `linux1.py`.
    pub file_name: String,
    /// The driver from the file name, for napalm endpoints.
    pub napalm_driver: Option<NapalmDriver>,
}

impl ConfigurationFile {
    /// The file's path relative to the lesson directory (its key in `Lesson::files`).
    pub fn path(&self, stage: usize) -> String {
        format!("stage{stage}/configs/{}", self.file_name)
    }
}

/// A way to reach an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presentation {
    /// Unique within the endpoint (a DNS-1123 label: part of the ingress host).
    pub name: String,
    /// TCP port.
    pub port: u16,
    /// Terminal or web page.
    #[serde(rename = "type")]
    pub kind: PresentationType,
}

/// A link between two endpoints (a Multus network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// One endpoint's name.
    pub a: String,
    /// The other endpoint's name.
    pub b: String,
    /// Subnet for the link; the backend picks a default when absent.
    pub subnet: Option<IpNet>,
}

/// A lesson author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    /// Name.
    pub name: String,
    /// Home page or profile.
    pub link: String,
}
