//! Kubernetes naming rules that curriculum names must satisfy, and the names derived from them.
//!
//! The scheduler builds object names from the instance id, the livelesson id and lesson
//! names. Checking them here turns a provisioning failure into an import-time error.

/// Kubernetes limit for a DNS label and for a label value.
pub const MAX_LABEL_LEN: usize = 63;

/// Kubernetes limit for a ConfigMap or Secret data key.
pub const MAX_DATA_KEY_LEN: usize = 253;

/// Length of a livelesson id (`[a-z0-9]{10}`, as the original's `RandomID(10)`).
pub const LIVELESSON_ID_LEN: usize = 10;

/// Longest instance id: the namespace `<instanceId>-<livelessonId>` must fit in a DNS label.
pub const MAX_INSTANCE_ID_LEN: usize = MAX_LABEL_LEN - 1 - LIVELESSON_ID_LEN;

/// Name of the endpoint the scheduler adds for lessons with jupyter guides.
pub const JUPYTER_ENDPOINT: &str = "jupyterlabguide";

/// Name of the jupyter endpoint's presentation (its ingress is `jupyterlabguide-web`).
pub const JUPYTER_PRESENTATION: &str = "web";

/// Whether `name` is a DNS-1123 label: 1 to 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= MAX_LABEL_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Whether `name` is a DNS-1035 label (a Service name): a DNS-1123 label starting with a letter.
pub fn is_dns1035_label(name: &str) -> bool {
    is_dns1123_label(name) && name.as_bytes()[0].is_ascii_lowercase()
}

/// Namespace of a livelesson.
pub fn namespace(instance_id: &str, livelesson_id: &str) -> String {
    format!("{instance_id}-{livelesson_id}")
}

/// Length of every namespace name of this instance.
pub fn namespace_len(instance_id: &str) -> usize {
    instance_id.len() + 1 + LIVELESSON_ID_LEN
}

/// Name of an http presentation's Ingress: `<endpoint>-<presentation>`. Not one-to-one
/// (`a-b`+`c` and `a`+`b-c` meet), so the validation refuses lessons where two meet.
pub fn ingress_name(endpoint: &str, presentation: &str) -> String {
    format!("{endpoint}-{presentation}")
}

/// First DNS label of an http presentation's host: `<namespace>-<endpoint>-<presentation>`,
/// the namespace and the [`ingress_name`].
pub fn ingress_host_label(namespace: &str, endpoint: &str, presentation: &str) -> String {
    format!("{namespace}-{}", ingress_name(endpoint, presentation))
}

/// Name of the NetworkAttachmentDefinition of the connection between endpoints `a` and
/// `b`: `<a>-<b>-net`, the original's. Not one-to-one either (`a-b`+`a` and `a`+`b-a`
/// meet), so the validation refuses lessons where two meet.
pub fn connection_network(a: &str, b: &str) -> String {
    format!("{a}-{b}-net")
}

/// Length of [`ingress_host_label`] for any livelesson of this instance.
pub fn ingress_host_label_len(instance_id: &str, endpoint: &str, presentation: &str) -> usize {
    namespace_len(instance_id) + 1 + endpoint.len() + 1 + presentation.len()
}

/// Name of the Job that configures `endpoint` for stage `stage`.
pub fn config_job_name(endpoint: &str, stage: usize) -> String {
    format!("config-{endpoint}-{stage}")
}

/// Key of an image's configuration password in the livelesson's credentials Secret.
pub fn credentials_key(image_slug: &str) -> String {
    format!("{image_slug}.password")
}

/// Why `instance_id` cannot be used, if it cannot.
pub fn instance_id_problem(instance_id: &str) -> Option<String> {
    if instance_id.len() > MAX_INSTANCE_ID_LEN {
        return Some(format!(
            "is {} characters long; at most {MAX_INSTANCE_ID_LEN} fit in a namespace name \
             `<instanceId>-<10-character livelesson id>` of at most {MAX_LABEL_LEN}",
            instance_id.len()
        ));
    }
    if !is_dns1123_label(instance_id) {
        return Some(
            "must be lower-case letters, digits and `-`, starting and ending with a letter or digit"
                .to_owned(),
        );
    }
    None
}

/// Whether `slug` has the shape of a lesson slug (`[a-z-]+`, bounded).
pub fn is_lesson_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 128
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_follow_kubernetes_rules() {
        assert!(is_dns1123_label("r1"));
        assert!(is_dns1123_label("1r"));
        assert!(!is_dns1035_label("1r"));
        assert!(is_dns1035_label("branch-1"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a-"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("a_b"));
        assert!(!is_dns1123_label(""));
        assert!(is_dns1123_label(&"a".repeat(63)));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn derived_name_lengths_match_the_names() {
        let ns = namespace("antidote", "abcdefghij");
        assert_eq!(ns.len(), namespace_len("antidote"));
        assert_eq!(
            ingress_host_label(&ns, "vqfx1", "web").len(),
            ingress_host_label_len("antidote", "vqfx1", "web")
        );
        assert_eq!(config_job_name("r1", 3), "config-r1-3");
        assert_eq!(credentials_key("vqfx"), "vqfx.password");
        assert_eq!(ingress_name("web", "site"), "web-site");
        assert_eq!(
            ingress_host_label(&ns, "web", "site"),
            format!("{ns}-{}", ingress_name("web", "site"))
        );
        assert_eq!(connection_network("r1", "r2"), "r1-r2-net");
    }

    #[test]
    fn instance_id_must_leave_room_for_the_livelesson_id() {
        assert_eq!(instance_id_problem("antidote"), None);
        assert_eq!(instance_id_problem(&"a".repeat(52)), None);
        assert!(instance_id_problem(&"a".repeat(53)).is_some());
        assert!(instance_id_problem("Antidote").is_some());
        assert!(instance_id_problem("").is_some());
    }
}
