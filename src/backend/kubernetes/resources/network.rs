//! Multus networks: one NetworkAttachmentDefinition (a node-local Linux bridge) per
//! connection.

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::object_meta;
use crate::backend::{Livelesson, Settings};
use crate::curriculum::{Connection, names};

/// Kernel limit on interface (bridge) names.
pub const MAX_BRIDGE_LEN: usize = 15;

/// The NetworkAttachmentDefinition CRD (`k8s.cni.cncf.io/v1`).
pub fn nad_api_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition");
    ApiResource::from_gvk_with_plural(&gvk, "network-attachment-definitions")
}

/// Name of a connection's NAD, `<a>-<b>-net` ([`names::connection_network`]; the
/// validation refuses lessons where two connections get one name).
pub fn nad_name(connection: &Connection) -> String {
    names::connection_network(&connection.a, &connection.b)
}

/// Bridge of connection `index` in `namespace`: `ab` + 13 hex digits of a SHA-256.
///
/// The original's `<index><6 of instance><6 of livelesson>` could collide between
/// livelessons sharing prefixes on one node; a hash of the full names practically can't.
pub fn bridge_name(namespace: &str, index: usize) -> String {
    let digest = Sha256::digest(format!("{namespace}/{index}").as_bytes());
    let mut name = format!("ab{}", hex::encode(digest));
    name.truncate(MAX_BRIDGE_LEN);
    name
}

/// One NAD per connection, in connection order; `spec.config` is the CNI bridge config
/// with host-local IPAM on the connection's subnet (or `default_subnet`).
pub fn network_attachments(settings: &Settings, ll: &Livelesson<'_>) -> Vec<DynamicObject> {
    let ns = settings.namespace(ll.id);
    let resource = nad_api_resource();
    ll.lesson
        .connections
        .iter()
        .enumerate()
        .map(|(index, connection)| {
            let name = nad_name(connection);
            let subnet = connection
                .subnet
                .map_or_else(|| settings.default_subnet.clone(), |s| s.to_string());
            // The original also sent `plugin` and a `delegate` block; the bridge plugin
            // reads neither.
            let config = json!({
                "cniVersion": "0.3.1",
                "name": format!("{ns}-{name}"),
                "type": "bridge",
                "bridge": bridge_name(&ns, index),
                "forceAddress": false,
                "hairpinMode": false,
                "ipam": { "type": "host-local", "subnet": subnet },
            });
            let mut object = DynamicObject::new(&name, &resource)
                .within(&ns)
                .data(json!({ "spec": { "config": config.to_string() } }));
            object.metadata = object_meta(settings, ll, name, &[]);
            object
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    #[test]
    fn api_resource_names_the_multus_crd() {
        let ar = nad_api_resource();
        assert_eq!(ar.group, "k8s.cni.cncf.io");
        assert_eq!(ar.version, "v1");
        assert_eq!(ar.api_version, "k8s.cni.cncf.io/v1");
        assert_eq!(ar.kind, "NetworkAttachmentDefinition");
        assert_eq!(ar.plural, "network-attachment-definitions");
    }

    #[test]
    fn one_nad_per_connection_with_a_parsable_bridge_config() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let nads = network_attachments(&fx.settings, &ll);
        assert_eq!(nads.len(), 2);
        let first = &nads[0];
        assert_eq!(first.metadata.name.as_deref(), Some("vqfx-1-vqfx-2-net"));
        assert_eq!(
            first.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        assert_eq!(
            first.metadata.labels.as_ref().unwrap()["liveLesson"],
            "abcde12345"
        );
        let types = first.types.as_ref().unwrap();
        assert_eq!(types.api_version, "k8s.cni.cncf.io/v1");
        assert_eq!(types.kind, "NetworkAttachmentDefinition");

        let config: serde_json::Value =
            serde_json::from_str(first.data["spec"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(config["name"], "antidote-abcde12345-vqfx-1-vqfx-2-net");
        assert_eq!(config["type"], "bridge");
        assert_eq!(config["forceAddress"], false);
        assert_eq!(config["hairpinMode"], false);
        assert_eq!(config["ipam"]["type"], "host-local");
        assert_eq!(config["ipam"]["subnet"], "10.12.0.0/24");
        let bridge = config["bridge"].as_str().unwrap();
        assert_eq!(bridge.len(), 15);
        assert!(bridge.starts_with("ab"));

        let second: serde_json::Value =
            serde_json::from_str(nads[1].data["spec"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(nads[1].metadata.name.as_deref(), Some("linux1-vqfx-1-net"));
        assert_eq!(second["ipam"]["subnet"], "169.0.0.0/16", "default subnet");
        assert_ne!(second["bridge"], config["bridge"]);
    }

    #[test]
    fn bridge_names_differ_between_livelessons_and_connections() {
        let a = bridge_name("antidote-aaaaaa0001", 0);
        assert_eq!(a, bridge_name("antidote-aaaaaa0001", 0));
        assert_ne!(a, bridge_name("antidote-aaaaaa0002", 0));
        assert_ne!(a, bridge_name("antidote-aaaaaa0001", 1));
        assert!(a.len() <= MAX_BRIDGE_LEN);
    }

    #[test]
    fn lessons_without_connections_get_no_nads() {
        let fx = Fixture::example();
        let ll = fx.livelesson("linux-first-steps");
        assert!(network_attachments(&fx.settings, &ll).is_empty());
    }
}
