//! A lesson's endpoints: name, image, ports and presentations, and the configuration file
//! each stage has for an endpoint with a configuration type.

use std::collections::HashSet;

use crate::curriculum::model::{
    ConfigurationFile, ConfigurationType, Endpoint, NapalmDriver, Presentation, PresentationType,
    Stage,
};
use crate::curriculum::names;
use crate::curriculum::raw::RawEndpoint;
use crate::curriculum::report::FileProblems;
use crate::curriculum::source::{self, EntryKind, Source};

use super::context::{Known, LessonContext};
use super::fields::{enumerated, image_slug, port_number};

pub(super) fn endpoint(
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
