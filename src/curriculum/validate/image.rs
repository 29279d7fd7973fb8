//! `image.meta.yaml`: an endpoint image, its flavor, network interfaces and credentials.

use std::collections::HashSet;

use crate::curriculum::model::{Flavor, Image};
use crate::curriculum::raw::RawImage;
use crate::curriculum::report::FileProblems;
use crate::secret::Secret;

use super::fields::{enumerated, image_slug, required};

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
