//! The validation rules: turn one raw definition into a typed one, reporting every problem.
//!
//! A converter returns `None` when the definition has any error, so only clean definitions
//! reach the [`Curriculum`](super::Curriculum).

use std::collections::{BTreeMap, HashSet};

use ipnet::IpNet;

use super::model::{
    Author, Category, Collection, CollectionType, ConfigurationFile, ConfigurationType, Connection,
    CurriculumMeta, Endpoint, Flavor, GuideType, Image, Lesson, NapalmDriver, Presentation,
    PresentationType, Stage, Tier,
};
use super::names;
use super::raw::{RawCollection, RawEndpoint, RawImage, RawLesson, RawMeta, RawStage};
use super::report::FileProblems;
use super::source::{self, EntryKind, Source};
use crate::secret::Secret;

/// Longest accepted `readyDelay`, in seconds (an hour: anything longer is a typo).
pub const MAX_READY_DELAY_SECS: i64 = 3600;

/// What a lesson can refer to, known before lessons are validated.
pub(crate) struct LessonContext<'a> {
    pub instance_id: &'a str,
    /// Image slug → whether its definition is valid.
    pub images: &'a BTreeMap<String, Known>,
    /// Collection slug → its state.
    pub collections: &'a BTreeMap<String, Known>,
}

/// The state of a definition another one refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// Loaded.
    Valid,
    /// Defined in this file, with errors.
    Invalid(String),
    /// Left out by the tier filter.
    BelowTier(Tier),
}

pub(crate) fn meta(raw: RawMeta, p: &mut FileProblems<'_>) -> Option<CurriculumMeta> {
    let meta = CurriculumMeta {
        name: required(p, "name", raw.name),
        description: required(p, "description", raw.description),
        website: required(p, "website", raw.website),
        a_ver: required(p, "aVer", raw.a_ver),
        git_root: required(p, "gitRoot", raw.git_root),
    };
    (p.errors() == 0).then_some(meta)
}

pub(crate) fn collection(raw: RawCollection, p: &mut FileProblems<'_>) -> Option<Collection> {
    let slug = lesson_slug(p, "slug", raw.slug);
    let title = required(p, "title", raw.title);
    let image = required(p, "image", raw.image);
    let website = required(p, "website", raw.website);
    let brief_description = required(p, "briefDescription", raw.brief_description);
    let long_description = required(p, "longDescription", raw.long_description);
    let kind = enumerated(
        p,
        "type",
        raw.kind.as_deref(),
        CollectionType::parse,
        CollectionType::ALL,
    );
    let tier = enumerated(p, "tier", raw.tier.as_deref(), Tier::parse, Tier::ALL);
    Some(Collection {
        slug,
        title,
        image,
        website,
        contact_email: raw.contact_email.unwrap_or_default(),
        brief_description,
        long_description,
        kind: kind?,
        tier: tier?,
    })
    .filter(|_| p.errors() == 0)
}

pub(crate) fn image(raw: RawImage, p: &mut FileProblems<'_>) -> Option<Image> {
    let slug = image_slug(p, "slug", raw.slug);
    let flavor = enumerated(
        p,
        "flavor",
        raw.flavor.as_deref(),
        Flavor::parse,
        Flavor::ALL,
    );
    let network_interfaces = raw.network_interfaces.unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, interface) in network_interfaces.iter().enumerate() {
        let field = format!("networkInterfaces[{i}]");
        if interface == "eth0" {
            p.error_eg(
                &field,
                "`eth0` is the pod's primary interface and cannot name a connection interface",
                "net1",
            );
        } else if interface.is_empty()
            || interface.len() > 15
            || interface
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace())
        {
            p.error_eg(
                &field,
                format!("`{interface}` is not a Linux interface name (1 to 15 characters, no `/`, `:` or spaces)"),
                "net1",
            );
        } else if !seen.insert(interface.as_str()) {
            p.error(&field, format!("duplicate interface name `{interface}`"));
        }
    }
    let ssh_user = required(p, "sshUser", raw.ssh_user);
    let ssh_password = Secret::new(required(p, "sshPassword", raw.ssh_password));
    let config_user = required(p, "configUser", raw.config_user);
    let config_password = Secret::new(required(p, "configPassword", raw.config_password));
    let image = Image {
        slug,
        description: raw.description.unwrap_or_default(),
        flavor: flavor?,
        enable_forwarding: raw.enable_forwarding.unwrap_or(false),
        network_interfaces,
        ssh_user,
        ssh_password,
        config_user,
        config_password,
    };
    (p.errors() == 0).then_some(image)
}

/// The tier of a raw lesson, when it is valid (the tier filter runs before validation).
pub(crate) fn raw_tier(raw: &RawLesson) -> Option<Tier> {
    raw.tier.as_deref().and_then(Tier::parse)
}

pub(crate) fn lesson(
    raw: RawLesson,
    source: &impl Source,
    dir: &str,
    cx: &LessonContext<'_>,
    p: &mut FileProblems<'_>,
) -> Option<Lesson> {
    let name = required(p, "name", raw.name);
    let slug = lesson_slug(p, "slug", raw.slug);
    let category = enumerated(
        p,
        "category",
        raw.category.as_deref(),
        Category::parse,
        Category::ALL,
    );
    let tier = enumerated(p, "tier", raw.tier.as_deref(), Tier::parse, Tier::ALL);
    let description = required(p, "description", raw.description);
    let short_description = required(p, "shortDescription", raw.short_description);
    let collection = raw.collection.filter(|slug| !slug.is_empty());
    if let Some(slug) = &collection {
        match cx.collections.get(slug) {
            Some(Known::Valid) => {}
            Some(Known::Invalid(file)) => p.error(
                "collection",
                format!("collection `{slug}` is not loaded: {file} has errors"),
            ),
            Some(Known::BelowTier(tier)) => p.error(
                "collection",
                format!("collection `{slug}` has tier {tier}, below the configured tier, so it is not imported"),
            ),
            None => p.error(
                "collection",
                format!("no collection has slug `{slug}` (collections/**/collection.meta.yaml)"),
            ),
        }
    }
    let ready_delay = match raw.ready_delay {
        None => 0,
        Some(delay) => match u32::try_from(delay) {
            Ok(secs) if i64::from(secs) <= MAX_READY_DELAY_SECS => secs,
            _ => {
                p.error_eg(
                    "readyDelay",
                    format!("{delay} is out of range: seconds from 0 to {MAX_READY_DELAY_SECS}"),
                    "readyDelay: 5",
                );
                0
            }
        },
    };

    let mut files = BTreeMap::new();
    let stages = stages(raw.stages, source, dir, p, &mut files);
    let mut endpoints = Vec::new();
    let raw_endpoints = raw.endpoints.unwrap_or_default();
    if raw_endpoints.is_empty() {
        p.error_eg("endpoints", "at least one endpoint is required", "endpoints: [{name: linux1, image: utility, presentations: [{name: cli, port: 22, type: ssh}]}]");
    }
    // Names as written, valid or not: connections are checked against these, so one bad
    // endpoint name is reported once rather than again by every connection naming it.
    let mut endpoint_names = HashSet::new();
    let jupyter = stages.iter().any(|s| s.guide_type == GuideType::Jupyter);
    for (i, raw) in raw_endpoints.iter().enumerate() {
        let Some(name) = raw.name.clone() else {
            continue;
        };
        if !endpoint_names.insert(name.clone()) {
            p.error(
                format!("endpoints[{i}].name"),
                format!("duplicate endpoint name `{name}`"),
            );
        }
        if jupyter && name == names::JUPYTER_ENDPOINT {
            p.error(
                format!("endpoints[{i}].name"),
                format!("`{name}` is reserved for the jupyter guide endpoint of lessons with jupyter stages"),
            );
        }
    }
    // Ingress name → the presentation that has it.
    let mut ingresses: BTreeMap<String, String> = BTreeMap::new();
    for (i, raw) in raw_endpoints.into_iter().enumerate() {
        let Some(endpoint) = endpoint(raw, i, &stages, source, dir, cx, p) else {
            continue;
        };
        for (j, presentation) in endpoint.presentations.iter().enumerate() {
            if presentation.kind != PresentationType::Http {
                continue;
            }
            let presentation_field = format!("endpoints[{i}].presentations[{j}]");
            let field = format!("{presentation_field}.name");
            let name = names::ingress_name(&endpoint.name, &presentation.name);
            if let Some(first) = ingresses.get(&name) {
                p.error(
                    &field,
                    format!(
                        "its ingress and host would be named `{name}` like those of {first}; rename the endpoint or the presentation"
                    ),
                );
            } else {
                ingresses.insert(name, presentation_field);
            }
        }
        endpoints.push(endpoint);
    }
    if let Some(first) = stages
        .iter()
        .position(|s| s.guide_type == GuideType::Jupyter)
    {
        let len = names::ingress_host_label_len(
            cx.instance_id,
            names::JUPYTER_ENDPOINT,
            names::JUPYTER_PRESENTATION,
        );
        if len > names::MAX_LABEL_LEN {
            p.error(
                format!("stages[{first}].guideType"),
                format!(
                    "the jupyter guide's host label `<namespace>-{}-{}` would be {len} characters with instance id `{}` (at most {})",
                    names::JUPYTER_ENDPOINT,
                    names::JUPYTER_PRESENTATION,
                    cx.instance_id,
                    names::MAX_LABEL_LEN
                ),
            );
        }
    }
    let connections = connections(raw.connections, &endpoint_names, p);
    let authors = raw
        .authors
        .unwrap_or_default()
        .into_iter()
        .map(|author| Author {
            name: author.name.unwrap_or_default(),
            link: author.link.unwrap_or_default(),
        })
        .collect();

    let lesson = Lesson {
        name,
        slug,
        category: category?,
        diagram: raw.diagram.filter(|url| !url.is_empty()),
        video: raw.video.filter(|url| !url.is_empty()),
        tier: tier?,
        collection,
        description,
        short_description,
        prereqs: raw.prereqs.unwrap_or_default(),
        tags: raw.tags.unwrap_or_default(),
        stages,
        endpoints,
        connections,
        authors,
        ready_delay,
        files,
    };
    (p.errors() == 0).then_some(lesson)
}

fn stages(
    raw: Option<Vec<RawStage>>,
    source: &impl Source,
    dir: &str,
    p: &mut FileProblems<'_>,
    files: &mut BTreeMap<String, String>,
) -> Vec<Stage> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        p.error_eg(
            "stages",
            "at least one stage is required",
            "stages: [{description: Intro, guideType: markdown}]",
        );
    }
    let mut stages = Vec::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let field = format!("stages[{i}].guideType");
        let Some(guide_type) = enumerated(
            p,
            &field,
            raw.guide_type.as_deref(),
            GuideType::parse,
            GuideType::ALL,
        ) else {
            continue;
        };
        let stage = Stage {
            description: raw.description.unwrap_or_default(),
            guide_type,
            stage_video: raw.stage_video.filter(|url| !url.is_empty()),
        };
        let guide = stage.guide_path(i);
        match source.read(&source::join(dir, &guide)) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    if guide_type == GuideType::Jupyter
                        && let Err(err) = serde_json::from_str::<serde_json::Value>(&text)
                    {
                        p.error(
                            &field,
                            format!("guide `{guide}` is not a JSON notebook: {err}"),
                        );
                    }
                    files.insert(guide, text);
                }
                Err(_) => p.error(&field, format!("guide `{guide}` is not UTF-8 text")),
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => p.error(
                &field,
                format!("guide file `{guide}` is missing (a {guide_type} stage {i} needs it)"),
            ),
            Err(err) => p.error(&field, format!("cannot read guide `{guide}`: {err}")),
        }
        read_configs(source, dir, i, p, files);
        stages.push(stage);
    }
    stages
}

/// Stores every file under `stage<i>/configs/` (helper files that scripts use included), so
/// the scheduler needs no curriculum directory.
fn read_configs(
    source: &impl Source,
    dir: &str,
    stage: usize,
    p: &mut FileProblems<'_>,
    files: &mut BTreeMap<String, String>,
) {
    let root = format!("stage{stage}/configs");
    let mut pending = vec![root];
    while let Some(relative) = pending.pop() {
        let Ok(entries) = source.list(&source::join(dir, &relative)) else {
            continue;
        };
        for entry in entries {
            let path = format!("{relative}/{}", entry.name);
            if entry.kind == EntryKind::Dir {
                pending.push(path);
            } else {
                match source
                    .read(&source::join(dir, &path))
                    .map(String::from_utf8)
                {
                    Ok(Ok(text)) => {
                        files.insert(path, text);
                    }
                    Ok(Err(_)) => p.error(
                        "stages",
                        format!("configuration file `{path}` is not UTF-8 text"),
                    ),
                    Err(err) => p.error("stages", format!("cannot read `{path}`: {err}")),
                }
            }
        }
    }
}

fn endpoint(
    raw: RawEndpoint,
    i: usize,
    stages: &[Stage],
    source: &impl Source,
    dir: &str,
    cx: &LessonContext<'_>,
    p: &mut FileProblems<'_>,
) -> Option<Endpoint> {
    let before = p.errors();
    let at = |field: &str| format!("endpoints[{i}].{field}");
    let name = raw.name.unwrap_or_default();
    if !names::is_dns1035_label(&name) {
        p.error_eg(
            at("name"),
            format!("`{name}` is not usable as a Kubernetes service name: 1 to 63 lower-case letters, digits and `-`, starting with a letter and ending with a letter or digit"),
            "vqfx1",
        );
    }
    let image_errors = p.errors();
    let image = image_slug(p, &at("image"), raw.image);
    if p.errors() == image_errors {
        match cx.images.get(&image) {
            Some(Known::Valid) => {}
            Some(Known::Invalid(file)) => p.error(
                at("image"),
                format!("image `{image}` is not loaded: {file} has errors"),
            ),
            Some(Known::BelowTier(_)) | None => p.error(
                at("image"),
                format!("no image has slug `{image}` (images/**/image.meta.yaml)"),
            ),
        }
    }
    let configuration_type = match raw.configuration_type.as_deref() {
        None | Some("") => None,
        Some(_) => enumerated(
            p,
            &at("configurationType"),
            raw.configuration_type.as_deref(),
            ConfigurationType::parse,
            ConfigurationType::ALL,
        ),
    };

    let raw_presentations = raw.presentations.unwrap_or_default();
    let raw_ports = raw.additional_ports.unwrap_or_default();
    if raw_presentations.is_empty() && raw_ports.is_empty() {
        p.error_eg(
            at("presentations"),
            format!("endpoint `{name}` has no presentation and no additional port, so nothing can reach it"),
            "presentations: [{name: cli, port: 22, type: ssh}]",
        );
    }
    let mut additional_ports = Vec::new();
    for (j, port) in raw_ports.into_iter().enumerate() {
        if let Some(port) = port_number(p, &at(&format!("additionalPorts[{j}]")), port) {
            additional_ports.push(port);
        }
    }
    let mut presentations = Vec::new();
    let mut presentation_names = HashSet::new();
    for (j, raw) in raw_presentations.into_iter().enumerate() {
        let field = |key: &str| at(&format!("presentations[{j}].{key}"));
        let pname = raw.name.unwrap_or_default();
        if !names::is_dns1123_label(&pname) {
            p.error_eg(
                field("name"),
                format!("`{pname}` is not usable in Kubernetes names: 1 to 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
                "cli",
            );
        } else if !presentation_names.insert(pname.clone()) {
            p.error(
                field("name"),
                format!("duplicate presentation name `{pname}` in endpoint `{name}`"),
            );
        }
        let port = if let Some(port) = raw.port {
            port_number(p, &field("port"), port)
        } else {
            p.error_eg(field("port"), "is required", "22");
            None
        };
        let kind = enumerated(
            p,
            &field("type"),
            raw.kind.as_deref(),
            PresentationType::parse,
            PresentationType::ALL,
        );
        if kind == Some(PresentationType::Http) {
            let len = names::ingress_host_label_len(cx.instance_id, &name, &pname);
            if len > names::MAX_LABEL_LEN {
                p.error(
                    field("name"),
                    format!(
                        "the ingress host label `<namespace>-{name}-{pname}` would be {len} characters with instance id `{}`; at most {} fit, so endpoint and presentation names may total {} characters",
                        cx.instance_id,
                        names::MAX_LABEL_LEN,
                        (names::MAX_LABEL_LEN + name.len() + pname.len()).saturating_sub(len)
                    ),
                );
            }
        }
        if let (Some(port), Some(kind)) = (port, kind) {
            presentations.push(Presentation {
                name: pname,
                port,
                kind,
            });
        }
    }

    let mut configuration_files = Vec::new();
    if let Some(kind) = configuration_type {
        if let Some(last) = stages.len().checked_sub(1) {
            let job = names::config_job_name(&name, last);
            if job.len() > names::MAX_LABEL_LEN {
                p.error(
                    at("name"),
                    format!(
                        "configuration job name `{job}` would be {} characters (at most {})",
                        job.len(),
                        names::MAX_LABEL_LEN
                    ),
                );
            }
        }
        for stage in 0..stages.len() {
            if let Some(file) =
                configuration_file(source, dir, stage, &name, kind, &at("configurationType"), p)
            {
                configuration_files.push(file);
            }
        }
    }

    (p.errors() == before).then_some(Endpoint {
        name,
        image,
        configuration_type,
        additional_ports,
        presentations,
        configuration_files,
    })
}

/// Finds `endpoint`'s configuration file directly in `stage<stage>/configs/`, by exact name:
/// `<endpoint>.py`, `<endpoint>.yml`, or `<endpoint>-<driver>.txt`. Matching whole names
/// (not a regex over paths) means `r1` never picks up `xr1-junos.txt` and a hyphen in the
/// endpoint name cannot be mistaken for the driver separator.
fn configuration_file(
    source: &impl Source,
    dir: &str,
    stage: usize,
    endpoint: &str,
    kind: ConfigurationType,
    field: &str,
    p: &mut FileProblems<'_>,
) -> Option<ConfigurationFile> {
    let configs = format!("stage{stage}/configs");
    let mut names: Vec<String> = source
        .list(&source::join(dir, &configs))
        .map(|entries| {
            entries
                .into_iter()
                .filter(|entry| entry.kind == EntryKind::File)
                .map(|entry| entry.name)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let found: Vec<ConfigurationFile> = names
        .into_iter()
        .filter_map(|file_name| {
            let napalm_driver = match kind {
                ConfigurationType::Python => {
                    return (file_name == format!("{endpoint}.py")).then_some(ConfigurationFile {
                        file_name,
                        napalm_driver: None,
                    });
                }
                ConfigurationType::Ansible => {
                    return (file_name == format!("{endpoint}.yml")).then_some(ConfigurationFile {
                        file_name,
                        napalm_driver: None,
                    });
                }
                ConfigurationType::Napalm => napalm_driver(&file_name, endpoint)?,
            };
            Some(ConfigurationFile {
                file_name,
                napalm_driver: Some(napalm_driver),
            })
        })
        .collect();
    let expected = match kind {
        ConfigurationType::Python => format!("{configs}/{endpoint}.py"),
        ConfigurationType::Ansible => format!("{configs}/{endpoint}.yml"),
        ConfigurationType::Napalm => format!("{configs}/{endpoint}-junos.txt"),
    };
    match <[ConfigurationFile; 1]>::try_from(found) {
        Ok([file]) => Some(file),
        Err(found) if found.is_empty() => {
            p.error_eg(
                field,
                format!("{kind} endpoint `{endpoint}` has no configuration file for stage {stage}"),
                expected,
            );
            None
        }
        Err(found) => {
            let names: Vec<&str> = found.iter().map(|f| f.file_name.as_str()).collect();
            p.error(
                field,
                format!(
                    "{kind} endpoint `{endpoint}` has several configuration files in {configs}: {}; keep one",
                    names.join(", ")
                ),
            );
            None
        }
    }
}

/// The driver of a napalm configuration file named exactly `<endpoint>-<driver>.txt`.
pub fn napalm_driver(file_name: &str, endpoint: &str) -> Option<NapalmDriver> {
    let rest = file_name.strip_prefix(endpoint)?.strip_prefix('-')?;
    NapalmDriver::parse(rest.strip_suffix(".txt")?)
}

fn connections(
    raw: Option<Vec<super::raw::RawConnection>>,
    endpoints: &HashSet<String>,
    p: &mut FileProblems<'_>,
) -> Vec<Connection> {
    let mut connections = Vec::new();
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    // NetworkAttachmentDefinition name → the first connection that has it.
    let mut networks: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in raw.unwrap_or_default().into_iter().enumerate() {
        let before = p.errors();
        let mut side = |key: &str, value: Option<String>| {
            let value = value.unwrap_or_default();
            if !endpoints.contains(&value) {
                p.error(
                    format!("connections[{i}].{key}"),
                    format!("`{value}` is not the name of an endpoint of this lesson"),
                );
            }
            value
        };
        let a = side("a", raw.a);
        let b = side("b", raw.b);
        if a == b && !a.is_empty() {
            p.error(
                format!("connections[{i}]"),
                format!("connects endpoint `{a}` to itself"),
            );
        } else {
            let key = if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            if let Some(first) = pairs.insert(key, i) {
                p.error(
                    format!("connections[{i}]"),
                    format!(
                        "duplicate connection between `{a}` and `{b}` (also connections[{first}])"
                    ),
                );
            }
        }
        if p.errors() == before {
            let network = names::connection_network(&a, &b);
            if let Some(first) = networks.get(&network) {
                p.error(
                    format!("connections[{i}]"),
                    format!(
                        "its network would be named `{network}` like that of connections[{first}]; rename an endpoint"
                    ),
                );
            } else {
                networks.insert(network, i);
            }
        }
        let subnet = match raw.subnet.as_deref() {
            None | Some("") => None,
            Some(text) => match text.parse::<IpNet>() {
                Ok(net) if net.trunc() == net => Some(net),
                Ok(net) => {
                    p.error_eg(
                        format!("connections[{i}].subnet"),
                        format!("`{text}` has host bits set; the subnet is {}", net.trunc()),
                        net.trunc().to_string(),
                    );
                    None
                }
                Err(_) => {
                    p.error_eg(
                        format!("connections[{i}].subnet"),
                        format!("`{text}` is not a CIDR subnet"),
                        "10.12.0.0/24",
                    );
                    None
                }
            },
        };
        if p.errors() == before {
            connections.push(Connection { a, b, subnet });
        }
    }
    connections
}

fn required(p: &mut FileProblems<'_>, field: &str, value: Option<String>) -> String {
    match value {
        Some(value) if !value.trim().is_empty() => value,
        Some(_) => {
            p.error(field, "must not be empty");
            String::new()
        }
        None => {
            p.error(field, "is required");
            String::new()
        }
    }
}

fn enumerated<T>(
    p: &mut FileProblems<'_>,
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    all: &[&str],
) -> Option<T> {
    let allowed = all.join(", ");
    match value {
        None | Some("") => {
            p.error_eg(field, format!("is required: one of {allowed}"), all[0]);
            None
        }
        Some(text) => {
            let parsed = parse(text);
            if parsed.is_none() {
                p.error_eg(field, format!("`{text}` is not one of {allowed}"), all[0]);
            }
            parsed
        }
    }
}

/// Lesson and collection slugs: `[a-z-]+` as in the original, and at most 63 characters
/// because the lesson slug is a Kubernetes label value.
fn lesson_slug(p: &mut FileProblems<'_>, field: &str, value: Option<String>) -> String {
    let slug = required(p, field, value);
    if slug.is_empty() {
        return slug;
    }
    if !slug.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        p.error_eg(
            field,
            format!("`{slug}` may only hold lower-case letters and `-`"),
            "linux-basics",
        );
    } else if slug.starts_with('-') || slug.ends_with('-') {
        // k8s.io/apimachinery IsValidLabelValue: alphanumeric at both ends.
        p.error_eg(
            field,
            format!("`{slug}` must start and end with a letter (it is a Kubernetes label value)"),
            "linux-basics",
        );
    } else if slug.len() > names::MAX_LABEL_LEN {
        p.error(
            field,
            format!(
                "is {} characters long; at most {} fit in a Kubernetes label value",
                slug.len(),
                names::MAX_LABEL_LEN
            ),
        );
    }
    slug
}

/// Image slugs: `[A-Za-z0-9-]+` as in the original (a registry image name, not a reference
/// with `/` or `:`), short enough that the key of the image's configuration password in
/// the livelesson's Secret ([`names::credentials_key`]) fits in a Kubernetes data key.
fn image_slug(p: &mut FileProblems<'_>, field: &str, value: Option<String>) -> String {
    let slug = required(p, field, value);
    if !slug.is_empty() && !slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        p.error_eg(
            field,
            format!("`{slug}` may only hold letters, digits and `-` (an image slug, not a registry reference)"),
            "utility",
        );
    } else if names::credentials_key(&slug).len() > names::MAX_DATA_KEY_LEN {
        let max = names::MAX_DATA_KEY_LEN - names::credentials_key("").len();
        p.error_eg(
            field,
            format!(
                "is {} characters long; at most {max} fit in the Secret key `<slug>.password` of its configuration password",
                slug.len()
            ),
            "utility",
        );
    }
    slug
}

fn port_number(p: &mut FileProblems<'_>, field: &str, port: i64) -> Option<u16> {
    match u16::try_from(port) {
        Ok(port) if port >= 1 => Some(port),
        _ => {
            p.error_eg(
                field,
                format!("{port} is not a TCP port (1 to 65535)"),
                "22",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn napalm_driver_is_the_exact_suffix_after_the_endpoint_name() {
        assert_eq!(
            napalm_driver("r1-junos.txt", "r1"),
            Some(NapalmDriver::Junos)
        );
        assert_eq!(
            napalm_driver("branch-1-nxos_ssh.txt", "branch-1"),
            Some(NapalmDriver::NxosSsh)
        );
        assert_eq!(napalm_driver("xr1-junos.txt", "r1"), None);
        assert_eq!(napalm_driver("r1-junos.txt", "r"), None);
        assert_eq!(napalm_driver("branch-1-junos.txt", "branch"), None);
        assert_eq!(napalm_driver("r1-junos.txt.bak", "r1"), None);
        assert_eq!(napalm_driver("r1-vyos.txt", "r1"), None);
    }
}
