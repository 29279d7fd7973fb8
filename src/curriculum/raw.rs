//! The `*.meta.yaml` files as written: every field optional and loosely typed, so that one
//! parse yields everything present and validation can report every problem, not the first.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::report::FileProblems;

/// `curriculum.meta.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawMeta {
    pub name: Option<String>,
    pub description: Option<String>,
    pub website: Option<String>,
    pub a_ver: Option<String>,
    pub git_root: Option<String>,
}

/// `collection.meta.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCollection {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub image: Option<String>,
    pub website: Option<String>,
    pub contact_email: Option<String>,
    pub brief_description: Option<String>,
    pub long_description: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tier: Option<String>,
}

/// `image.meta.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawImage {
    pub slug: Option<String>,
    pub description: Option<String>,
    pub flavor: Option<String>,
    pub enable_forwarding: Option<bool>,
    pub network_interfaces: Option<Vec<String>>,
    pub ssh_user: Option<String>,
    pub ssh_password: Option<String>,
    pub config_user: Option<String>,
    pub config_password: Option<String>,
}

/// `lesson.meta.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawLesson {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub category: Option<String>,
    pub diagram: Option<String>,
    pub video: Option<String>,
    pub tier: Option<String>,
    pub collection: Option<String>,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub prereqs: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub stages: Option<Vec<RawStage>>,
    pub endpoints: Option<Vec<RawEndpoint>>,
    pub connections: Option<Vec<RawConnection>>,
    pub authors: Option<Vec<RawAuthor>>,
    pub ready_delay: Option<i64>,
    pub budget: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawStage {
    pub description: Option<String>,
    pub guide_type: Option<String>,
    pub stage_video: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEndpoint {
    pub name: Option<String>,
    pub image: Option<String>,
    pub configuration_type: Option<String>,
    pub additional_ports: Option<Vec<i64>>,
    pub presentations: Option<Vec<RawPresentation>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPresentation {
    pub name: Option<String>,
    pub port: Option<i64>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawConnection {
    pub a: Option<String>,
    pub b: Option<String>,
    pub subnet: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawAuthor {
    pub name: Option<String>,
    pub link: Option<String>,
}

/// Parses one YAML document. Unknown keys become warnings; a syntax or type error becomes an
/// error with line and column, and `None`.
pub(crate) fn parse<T: DeserializeOwned + Default>(
    text: &str,
    problems: &mut FileProblems<'_>,
) -> Option<T> {
    // An empty file (or one holding only comments) is an empty mapping to us: the missing
    // required fields are then reported one by one.
    if text
        .lines()
        .all(|line| matches!(line.trim(), "" | "---") || line.trim_start().starts_with('#'))
    {
        return Some(T::default());
    }
    let mut unknown = Vec::new();
    let deserializer = serde_norway::Deserializer::from_str(text);
    match serde_ignored::deserialize(deserializer, |path| unknown.push(key_path(&path))) {
        Ok(value) => {
            for key in unknown {
                problems.warning(key, "unknown key (ignored)");
            }
            Some(value)
        }
        Err(err) => {
            let message = err.to_string();
            match err.location() {
                Some(location) => {
                    let suffix =
                        format!(" at line {} column {}", location.line(), location.column());
                    let reason = message.strip_suffix(&suffix).unwrap_or(&message);
                    let (field, reason) = split_field(reason);
                    problems.at(location.line(), location.column(), field, reason);
                }
                None => problems.error("", message),
            }
            None
        }
    }
}

/// serde_norway prefixes a type error with the field path (`endpoints[0].port: invalid
/// type ...`); move it into the field column.
fn split_field(message: &str) -> (String, String) {
    if let Some((path, rest)) = message.split_once(": ")
        && !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_'))
    {
        return (path.to_owned(), rest.to_owned());
    }
    (String::new(), message.to_owned())
}

/// Formats a serde_ignored path as `endpoints[2].presentations[0].key`.
fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => {
            let parent = key_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_path(parent),
    }
}
