//! The rules the original lacked: references that must exist, unique slugs, collections
//! below the tier, ports, subnets, Kubernetes name and label limits (with the instance id),
//! ready delays, and connections.

use antidote_scheduler::curriculum::Options;

use crate::support::{Fixture, errors, problem};
use crate::{L1, NB, RC, WA};

rejects!(
    endpoint_image_must_exist,
    |f| {
        f.edit(NB, "image: utility", "image: nosuch");
    },
    [(
        NB,
        "endpoints[1].image",
        "no image has slug `nosuch` (images/**/image.meta.yaml)"
    )]
);

rejects!(
    lesson_slugs_are_unique,
    |f| {
        f.copy("lessons/notebook-automation", "lessons/notebook-copy");
    },
    [(
        "lessons/notebook-copy/lesson.meta.yaml",
        "slug",
        "duplicate slug `notebook-automation`: lessons/notebook-automation/lesson.meta.yaml defines it too"
    )]
);

rejects!(
    image_slugs_are_unique,
    |f| {
        f.copy("images/utility", "images/utility-copy");
    },
    [(
        "images/utility-copy/image.meta.yaml",
        "slug",
        "duplicate slug `utility`: images/utility/image.meta.yaml defines it too"
    )]
);

rejects!(
    lesson_collection_must_exist,
    |f| {
        f.edit(NB, "tier: prod\n", "tier: prod\ncollection: nosuch\n");
    },
    [(
        NB,
        "collection",
        "no collection has slug `nosuch` (collections/**/collection.meta.yaml)"
    )]
);

#[test]
fn collection_below_tier_is_skipped_not_an_error() {
    let f = Fixture::example();
    let text = f
        .read("collections/example-labs/collection.meta.yaml")
        .replace("slug: example-labs", "slug: local-labs")
        .replace("tier: prod", "tier: local");
    f.write("collections/local-labs/collection.meta.yaml", &text);
    let loaded = f.load();
    assert_eq!(errors(&loaded), vec![]);
    assert_eq!(loaded.report.skipped.len(), 1);
    assert_eq!(loaded.report.skipped[0].kind, "collection");
    assert_eq!(loaded.valid().expect("valid").collections.len(), 1);

    // Only a lesson that would show the missing collection is an error.
    f.edit(NB, "tier: prod\n", "tier: prod\ncollection: local-labs\n");
    assert_eq!(
        errors(&f.load()),
        vec![problem(
            NB,
            "collection",
            "collection `local-labs` has tier local, below the configured tier, so it is not imported"
        )]
    );
}

rejects!(
    additional_ports_stay_below_65536,
    |f| {
        f.edit(
            RC,
            "additionalPorts: [830]",
            "additionalPorts: [830, 70000]",
        );
    },
    [(
        RC,
        "endpoints[1].additionalPorts[1]",
        "70000 is not a TCP port (1 to 65535)"
    ),]
);

rejects!(
    subnets_are_cidrs,
    |f| {
        f.edit(WA, "subnet: 10.1.0.0/24", "subnet: 10.1.0.300/24");
    },
    [(
        WA,
        "connections[0].subnet",
        "`10.1.0.300/24` is not a CIDR subnet"
    )]
);

rejects!(
    subnets_have_no_host_bits,
    |f| {
        f.edit(WA, "subnet: 10.2.0.0/24", "subnet: 10.2.0.1/24");
    },
    [(
        WA,
        "connections[1].subnet",
        "`10.2.0.1/24` has host bits set; the subnet is 10.2.0.0/24"
    )]
);

rejects!(
    endpoint_names_are_service_names,
    |f| {
        f.edit_all(NB, "linux1", "Linux_1");
    },
    [(
        NB,
        "endpoints[1].name",
        "`Linux_1` is not usable as a Kubernetes service name: 1 to 63 lower-case letters, digits and `-`, starting with a letter and ending with a letter or digit"
    )]
);

rejects!(
    endpoint_names_start_with_a_letter,
    |f| {
        f.edit_all(NB, "linux1", "1linux");
    },
    [(
        NB,
        "endpoints[1].name",
        "`1linux` is not usable as a Kubernetes service name: 1 to 63 lower-case letters, digits and `-`, starting with a letter and ending with a letter or digit"
    )]
);

rejects!(
    presentation_names_are_dns_labels,
    |f| {
        f.edit(
            NB,
            "configurationType: napalm\n    presentations:\n      - name: cli",
            "configurationType: napalm\n    presentations:\n      - name: CLI",
        );
    },
    [(
        NB,
        "endpoints[0].presentations[0].name",
        "`CLI` is not usable in Kubernetes names: 1 to 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"
    )]
);

rejects!(
    jupyterlabguide_is_a_reserved_endpoint_name,
    |f| {
        f.edit_all(NB, "linux1", "jupyterlabguide");
    },
    [(
        NB,
        "endpoints[1].name",
        "`jupyterlabguide` is reserved for the jupyter guide endpoint of lessons with jupyter stages"
    )]
);

#[test]
fn ingress_host_label_must_fit_with_the_configured_instance_id() {
    let f = Fixture::example();
    let instance_id = "i".repeat(45);
    let options = Options {
        instance_id: instance_id.clone(),
        ..Options::default()
    };
    // namespace = 45 + 1 + 10 = 56; `-web-site` makes 65; `-jupyterlabguide-web` makes 76.
    assert_eq!(
        errors(&f.load_with(&options)),
        vec![
            problem(
                NB,
                "stages[0].guideType",
                &format!(
                    "the jupyter guide's host label `<namespace>-jupyterlabguide-web` would be 76 characters with instance id `{instance_id}` (at most 63)"
                ),
            ),
            problem(
                WA,
                "endpoints[1].presentations[0].name",
                &format!(
                    "the ingress host label `<namespace>-web-site` would be 65 characters with instance id `{instance_id}`; at most 63 fit, so endpoint and presentation names may total 5 characters"
                ),
            ),
        ]
    );
    // With the default id everything fits.
    assert_eq!(errors(&f.load()), vec![]);
}

#[test]
fn jupyter_host_label_alone_can_overflow() {
    let f = Fixture::example();
    let instance_id = "j".repeat(33);
    let options = Options {
        instance_id: instance_id.clone(),
        ..Options::default()
    };
    assert_eq!(
        errors(&f.load_with(&options)),
        vec![problem(
            NB,
            "stages[0].guideType",
            &format!(
                "the jupyter guide's host label `<namespace>-jupyterlabguide-web` would be 64 characters with instance id `{instance_id}` (at most 63)"
            ),
        )]
    );
}

#[test]
fn config_job_name_must_fit_in_a_label() {
    let f = Fixture::example();
    let long = format!("v{}", "q".repeat(54)); // 55 characters: `config-<55>-1` is 64
    f.edit_all(NB, "vqfx1", &long);
    for stage in ["stage0", "stage1"] {
        f.rename(
            &format!("lessons/notebook-automation/{stage}/configs/vqfx1-junos.txt"),
            &format!("lessons/notebook-automation/{stage}/configs/{long}-junos.txt"),
        );
    }
    assert_eq!(
        errors(&f.load()),
        vec![problem(
            NB,
            "endpoints[0].name",
            &format!(
                "configuration job name `config-{long}-1` would be 64 characters (at most 63)"
            ),
        )]
    );
}

rejects!(
    lesson_slug_starts_and_ends_with_a_letter,
    |f| {
        f.edit(
            NB,
            "slug: notebook-automation",
            "slug: notebook-automation-",
        );
    },
    [(
        NB,
        "slug",
        "`notebook-automation-` must start and end with a letter (it is a Kubernetes label value)"
    )]
);

rejects!(
    lesson_slug_fits_in_a_label_value,
    |f| {
        f.edit(
            NB,
            "slug: notebook-automation",
            &format!("slug: {}", "a".repeat(64)),
        );
    },
    [(
        NB,
        "slug",
        "is 64 characters long; at most 63 fit in a Kubernetes label value"
    )]
);

rejects!(
    ready_delay_has_an_upper_bound,
    |f| {
        f.edit(NB, "tier: prod\n", "tier: prod\nreadyDelay: 3601\n");
    },
    [(
        NB,
        "readyDelay",
        "3601 is out of range: seconds from 0 to 3600"
    )]
);

rejects!(
    ready_delay_is_not_negative,
    |f| {
        f.edit(NB, "tier: prod\n", "tier: prod\nreadyDelay: -1\n");
    },
    [(
        NB,
        "readyDelay",
        "-1 is out of range: seconds from 0 to 3600"
    )]
);

rejects!(
    connections_are_not_duplicated_in_either_direction,
    |f| {
        f.edit(
            NB,
            "    b: vqfx1\n",
            "    b: vqfx1\n  - a: vqfx1\n    b: linux1\n",
        );
    },
    [(
        NB,
        "connections[1]",
        "duplicate connection between `vqfx1` and `linux1` (also connections[0])"
    )]
);

rejects!(
    connections_do_not_loop_to_the_same_endpoint,
    |f| {
        f.edit(
            NB,
            "    b: vqfx1\n",
            "    b: vqfx1\n  - a: linux1\n    b: linux1\n",
        );
    },
    [(NB, "connections[1]", "connects endpoint `linux1` to itself")]
);

#[test]
fn instance_id_is_validated() {
    let f = Fixture::example();
    let options = Options {
        instance_id: "Antidote_1".into(),
        ..Options::default()
    };
    assert_eq!(
        errors(&f.load_with(&options)),
        vec![problem(
            "<options>",
            "instanceId",
            "`Antidote_1` must be lower-case letters, digits and `-`, starting and ending with a letter or digit"
        )]
    );
    let options = Options {
        instance_id: "a".repeat(53),
        ..Options::default()
    };
    let errors = errors(&f.load_with(&options));
    assert_eq!(errors[0].0, "<options>");
    assert!(
        errors[0].2.contains("is 53 characters long; at most 52"),
        "{errors:?}"
    );
}

rejects!(
    a_budget_must_be_a_defined_size,
    |f| {
        f.edit(L1, "tier: prod\n", "tier: prod\nbudget: huge\n");
    },
    [(
        L1,
        "budget",
        "lesson `linux-first-steps` asks for budget size `huge`, which is not defined; sizes: \
         small, medium, large, x-large, xx-large, xxx-large"
    )]
);

#[test]
fn a_budget_may_name_a_built_in_or_an_operators_size() {
    let f = Fixture::example();
    f.edit(L1, "tier: prod\n", "tier: prod\nbudget: lab-heavy\n");
    let mut options = Options::default();
    options.budget_sizes.push("lab-heavy".into());
    let loaded = f.load_with(&options);
    assert_eq!(errors(&loaded), vec![]);
    let lesson = loaded
        .valid()
        .expect("valid")
        .lesson("linux-first-steps")
        .cloned();
    assert_eq!(lesson.and_then(|l| l.budget).as_deref(), Some("lab-heavy"));

    f.edit(L1, "budget: lab-heavy\n", "budget: small\n");
    assert_eq!(errors(&f.load()), vec![]);
}
