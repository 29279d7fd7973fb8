//! Checks shared by every kind of definition: required and enumerated fields, lesson and
//! image slugs, port numbers.

use crate::curriculum::names;
use crate::curriculum::report::FileProblems;

pub(super) fn required(p: &mut FileProblems<'_>, field: &str, value: Option<String>) -> String {
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

pub(super) fn enumerated<T>(
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
pub(super) fn lesson_slug(p: &mut FileProblems<'_>, field: &str, value: Option<String>) -> String {
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
pub(super) fn image_slug(p: &mut FileProblems<'_>, field: &str, value: Option<String>) -> String {
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

pub(super) fn port_number(p: &mut FileProblems<'_>, field: &str, port: i64) -> Option<u16> {
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
