//! The schema constraints of the original: required fields, enums and slugs, each
//! rejected with its file, field and reason.

use crate::support::{Fixture, errors, problem};
use crate::{L1, NB, RC, WA};

rejects!(
    lesson_slug_allows_only_letters_and_hyphens,
    |f| {
        f.edit(
            NB,
            "slug: notebook-automation",
            "slug: notebook-automation2",
        );
    },
    [(
        NB,
        "slug",
        "`notebook-automation2` may only hold lower-case letters and `-`"
    )]
);

rejects!(
    lesson_name_is_required,
    |f| {
        f.edit(NB, "name: Automation from a Notebook\n", "");
    },
    [(NB, "name", "is required")]
);

rejects!(
    lesson_category_is_an_enum,
    |f| {
        f.edit(NB, "category: tools", "category: tooling");
    },
    [(
        NB,
        "category",
        "`tooling` is not one of fundamentals, tools, workflows"
    )]
);

rejects!(
    lesson_tier_is_an_enum,
    |f| {
        f.edit(NB, "tier: prod", "tier: production");
    },
    [(NB, "tier", "`production` is not one of local, ptr, prod")]
);

rejects!(
    guide_type_is_an_enum,
    |f| {
        f.edit(NB, "guideType: markdown", "guideType: html");
    },
    [(
        NB,
        "stages[1].guideType",
        "`html` is not one of markdown, jupyter"
    )]
);

rejects!(
    stages_are_required,
    |f| {
        let text = f.read(NB);
        let cut = text.find("stages:").expect("stages");
        f.write(NB, &text[..cut]);
    },
    [(NB, "stages", "at least one stage is required")]
);

rejects!(
    endpoint_image_is_a_slug_not_a_registry_reference,
    |f| {
        f.edit(NB, "image: utility", "image: antidotelabs/utility:latest");
    },
    [(
        NB,
        "endpoints[1].image",
        "`antidotelabs/utility:latest` may only hold letters, digits and `-` (an image slug, not a registry reference)"
    )]
);

rejects!(
    configuration_type_is_an_enum,
    |f| {
        f.edit(
            NB,
            "configurationType: napalm",
            "configurationType: netconf",
        );
    },
    [(
        NB,
        "endpoints[0].configurationType",
        "`netconf` is not one of napalm, python, ansible"
    )]
);

rejects!(
    presentation_port_zero_is_rejected,
    |f| {
        f.edit(
            NB,
            "image: utility\n    presentations:\n      - name: cli\n        port: 22",
            "image: utility\n    presentations:\n      - name: cli\n        port: 0",
        );
    },
    [(
        NB,
        "endpoints[1].presentations[0].port",
        "0 is not a TCP port (1 to 65535)"
    )]
);

rejects!(
    presentation_type_is_an_enum,
    |f| {
        f.edit(
        NB,
        "image: utility\n    presentations:\n      - name: cli\n        port: 22\n        type: ssh",
        "image: utility\n    presentations:\n      - name: cli\n        port: 22\n        type: telnet",
    );
    },
    [(
        NB,
        "endpoints[1].presentations[0].type",
        "`telnet` is not one of http, ssh"
    )]
);

rejects!(
    collection_type_is_an_enum,
    |f| {
        f.edit(
            "collections/example-labs/collection.meta.yaml",
            "type: community",
            "type: hobby",
        );
    },
    [
        (
            "collections/example-labs/collection.meta.yaml",
            "type",
            "`hobby` is not one of vendor, community, consultancy"
        ),
        (
            L1,
            "collection",
            "collection `example-labs` is not loaded: collections/example-labs/collection.meta.yaml has errors"
        ),
        (
            RC,
            "collection",
            "collection `example-labs` is not loaded: collections/example-labs/collection.meta.yaml has errors"
        ),
        (
            WA,
            "collection",
            "collection `example-labs` is not loaded: collections/example-labs/collection.meta.yaml has errors"
        ),
    ]
);

rejects!(
    image_flavor_is_required,
    |f| {
        f.edit("images/webserver/image.meta.yaml", "flavor: legacy\n", "");
    },
    [
        (
            "images/webserver/image.meta.yaml",
            "flavor",
            "is required: one of trusted, untrusted, legacy"
        ),
        (
            WA,
            "endpoints[1].image",
            "image `webserver` is not loaded: images/webserver/image.meta.yaml has errors"
        ),
        (
            WA,
            "endpoints[3].image",
            "image `webserver` is not loaded: images/webserver/image.meta.yaml has errors"
        ),
    ]
);

rejects!(
    curriculum_meta_fields_are_required,
    |f| {
        f.edit("curriculum.meta.yaml", "aVer: 0.7.0\n", "aVer: \"\"\n");
    },
    [("curriculum.meta.yaml", "aVer", "must not be empty")]
);
