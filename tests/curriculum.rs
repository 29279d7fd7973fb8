//! Curriculum validation: the example curriculum is clean, and every rule rejects a copy of
//! it with exactly one thing broken, naming file, field and reason.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "fixtures/curriculum/support.rs"]
mod support;

use antidote_scheduler::curriculum::{
    ConfigurationFile, ConfigurationType, NapalmDriver, Options, PresentationType, Severity, Tier,
};
use support::{Fixture, errors, problem, warnings};

const L1: &str = "lessons/linux-first-steps/lesson.meta.yaml";
const NB: &str = "lessons/notebook-automation/lesson.meta.yaml";
const RC: &str = "lessons/router-configuration/lesson.meta.yaml";
const WA: &str = "lessons/web-automation/lesson.meta.yaml";
const VQFX: &str = "images/vqfx/image.meta.yaml";

/// One test per rule: apply the edit to a fresh copy of the example, then expect exactly
/// these errors (file, field, reason) and no importable curriculum.
macro_rules! rejects {
    ($name:ident, |$f:ident| $edit:block, [$(($file:expr, $field:expr, $reason:expr)),+ $(,)?]) => {
        #[test]
        fn $name() {
            let $f = Fixture::example();
            $edit
            let loaded = $f.load();
            assert_eq!(errors(&loaded), vec![$(problem($file, $field, &$reason)),+]);
            assert!(loaded.valid().is_none());
        }
    };
}

#[test]
fn example_curriculum_validates_cleanly() {
    let loaded = Fixture::example().load();
    assert_eq!(errors(&loaded), vec![]);
    assert_eq!(warnings(&loaded), vec![]);
    let report = &loaded.report;
    assert_eq!(
        (report.lessons, report.images, report.collections),
        (4, 4, 1)
    );
    assert!(report.skipped.is_empty());
    let curriculum = loaded.valid().expect("valid");
    assert_eq!(curriculum.meta.name, "antidote-scheduler-example");
    assert_eq!(curriculum.lessons.len(), 4);
    assert_eq!(curriculum.images.len(), 4);
    assert_eq!(curriculum.collections.len(), 1);
}

#[test]
fn example_curriculum_exposes_per_stage_configuration_files() {
    let loaded = Fixture::example().load();
    let curriculum = loaded.valid().expect("valid");

    // A hyphenated endpoint name does not confuse the napalm driver.
    let lesson = curriculum.lesson("router-configuration").expect("lesson");
    let vqfx = lesson.endpoint("vqfx-1").expect("endpoint");
    assert_eq!(vqfx.configuration_type, Some(ConfigurationType::Napalm));
    let expected = ConfigurationFile {
        file_name: "vqfx-1-junos.txt".into(),
        napalm_driver: Some(NapalmDriver::Junos),
    };
    assert_eq!(vqfx.configuration_files, vec![expected.clone(), expected]);
    assert_eq!(vqfx.ports(), vec![22, 830]);
    let stage1 = lesson.configuration_text(vqfx, 1).expect("stage 1 config");
    assert!(stage1.contains("route 192.0.2.0/24"));
    assert_eq!(lesson.ready_delay, 1);
    assert_eq!(lesson.connections[1].subnet, None);
    assert_eq!(
        lesson.connections[0]
            .subnet
            .map(|s| s.to_string())
            .as_deref(),
        Some("10.12.0.0/24")
    );

    let lesson = curriculum.lesson("web-automation").expect("lesson");
    let linux1 = lesson.endpoint("linux1").expect("endpoint");
    assert_eq!(linux1.configuration_files[0].file_name, "linux1.py");
    assert_eq!(linux1.configuration_files[0].napalm_driver, None);
    let router = lesson.endpoint("router").expect("endpoint");
    assert_eq!(router.configuration_type, Some(ConfigurationType::Ansible));
    assert_eq!(router.configuration_files[1].file_name, "router.yml");
    let web = lesson.endpoint("web").expect("endpoint");
    assert_eq!(web.presentations[0].kind, PresentationType::Http);
    let backend = lesson.endpoint("backend").expect("endpoint");
    assert!(backend.presentations.is_empty());
    assert_eq!(backend.ports(), vec![5000]);
    assert!(lesson.guide(1).expect("guide").contains("backend"));

    let lesson = curriculum.lesson("notebook-automation").expect("lesson");
    assert!(lesson.uses_jupyter());
    assert!(lesson.guide(0).expect("notebook").contains("nbformat"));
    assert!(lesson.files.contains_key("stage1/configs/vqfx1-junos.txt"));
}

#[test]
fn image_passwords_never_print() {
    let loaded = Fixture::example().load();
    let curriculum = loaded.valid().expect("valid");
    let image = curriculum.image("vqfx").expect("image");
    let debug = format!("{image:?}");
    assert!(!debug.contains("rootpassword"), "{debug}");
    assert_eq!(image.config_password.expose(), "rootpassword");
}

// --- schema constraints of the original ---

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

// --- lesson rules of the original ---

rejects!(
    endpoint_names_are_unique,
    |f| {
        f.edit(
            NB,
            "endpoints:\n",
            "endpoints:\n  - name: linux1\n    image: utility\n    additionalPorts: [22]\n",
        );
    },
    [(NB, "endpoints[2].name", "duplicate endpoint name `linux1`")]
);

rejects!(
    endpoint_needs_a_presentation_or_an_additional_port,
    |f| {
        f.edit(WA, "\n    additionalPorts: [5000]", "");
    },
    [(
        WA,
        "endpoints[3].presentations",
        "endpoint `backend` has no presentation and no additional port, so nothing can reach it"
    )]
);

rejects!(
    napalm_configuration_file_is_needed_in_every_stage,
    |f| {
        f.remove("lessons/router-configuration/stage1/configs/vqfx-2-junos.txt");
    },
    [(
        RC,
        "endpoints[2].configurationType",
        "napalm endpoint `vqfx-2` has no configuration file for stage 1"
    ),]
);

rejects!(
    python_configuration_file_is_needed_in_every_stage,
    |f| {
        f.remove("lessons/web-automation/stage0/configs/linux1.py");
    },
    [(
        WA,
        "endpoints[0].configurationType",
        "python endpoint `linux1` has no configuration file for stage 0"
    )]
);

rejects!(
    ansible_configuration_file_is_needed_in_every_stage,
    |f| {
        f.remove("lessons/web-automation/stage1/configs/router.yml");
    },
    [(
        WA,
        "endpoints[2].configurationType",
        "ansible endpoint `router` has no configuration file for stage 1"
    )]
);

// The original matched `<endpoint>-<driver>.txt` unanchored, so `xvqfx1-junos.txt` counted
// as `vqfx1`'s file.
rejects!(
    napalm_file_of_another_endpoint_does_not_match,
    |f| {
        f.rename(
            "lessons/notebook-automation/stage0/configs/vqfx1-junos.txt",
            "lessons/notebook-automation/stage0/configs/xvqfx1-junos.txt",
        );
    },
    [(
        NB,
        "endpoints[0].configurationType",
        "napalm endpoint `vqfx1` has no configuration file for stage 0"
    )]
);

rejects!(
    napalm_file_with_unknown_driver_does_not_match,
    |f| {
        f.rename(
            "lessons/notebook-automation/stage1/configs/vqfx1-junos.txt",
            "lessons/notebook-automation/stage1/configs/vqfx1-vyos.txt",
        );
    },
    [(
        NB,
        "endpoints[0].configurationType",
        "napalm endpoint `vqfx1` has no configuration file for stage 1"
    )]
);

rejects!(
    two_napalm_files_for_one_endpoint_are_ambiguous,
    |f| {
        f.write(
            "lessons/notebook-automation/stage0/configs/vqfx1-eos.txt",
            "hostname vqfx1\n",
        );
    },
    [(
        NB,
        "endpoints[0].configurationType",
        "napalm endpoint `vqfx1` has several configuration files in stage0/configs: vqfx1-eos.txt, vqfx1-junos.txt; keep one"
    )]
);

rejects!(
    presentation_names_are_unique_per_endpoint,
    |f| {
        f.edit(
        NB,
        "image: utility\n    presentations:\n",
        "image: utility\n    presentations:\n      - name: cli\n        port: 2222\n        type: ssh\n",
    );
    },
    [(
        NB,
        "endpoints[1].presentations[1].name",
        "duplicate presentation name `cli` in endpoint `linux1`"
    )]
);

rejects!(
    connections_name_existing_endpoints,
    |f| {
        f.edit(NB, "  - a: linux1", "  - a: linux9");
    },
    [(
        NB,
        "connections[0].a",
        "`linux9` is not the name of an endpoint of this lesson"
    )]
);

rejects!(
    every_stage_needs_its_guide,
    |f| {
        f.remove("lessons/notebook-automation/stage1/guide.md");
    },
    [(
        NB,
        "stages[1].guideType",
        "guide file `stage1/guide.md` is missing (a markdown stage 1 needs it)"
    )]
);

rejects!(
    jupyter_stage_needs_a_notebook,
    |f| {
        f.remove("lessons/notebook-automation/stage0/guide.ipynb");
    },
    [(
        NB,
        "stages[0].guideType",
        "guide file `stage0/guide.ipynb` is missing (a jupyter stage 0 needs it)"
    )]
);

#[test]
fn jupyter_guide_must_be_json() {
    let f = Fixture::example();
    f.write(
        "lessons/notebook-automation/stage0/guide.ipynb",
        "# not a notebook\n",
    );
    let errors = errors(&f.load());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].0.as_str(), errors[0].1.as_str()),
        (NB, "stages[0].guideType")
    );
    assert!(
        errors[0]
            .2
            .starts_with("guide `stage0/guide.ipynb` is not a JSON notebook: ")
    );
}

rejects!(
    prereqs_must_exist,
    |f| {
        f.edit(RC, "  - linux-first-steps", "  - linux-last-steps");
    },
    [(RC, "prereqs[0]", "no lesson has slug `linux-last-steps`"),]
);

rejects!(
    prereqs_must_be_imported_at_this_tier,
    |f| {
        f.edit(L1, "tier: prod", "tier: ptr");
    },
    [
        (
            RC,
            "prereqs[0]",
            "lesson `linux-first-steps` has tier ptr, below the configured tier prod, so it is not imported"
        ),
        (
            WA,
            "prereqs[0]",
            "lesson `linux-first-steps` has tier ptr, below the configured tier prod, so it is not imported"
        ),
    ]
);

rejects!(
    image_interfaces_may_not_use_eth0,
    |f| {
        f.edit(VQFX, "  - em3", "  - eth0");
    },
    [
        (
            VQFX,
            "networkInterfaces[0]",
            "`eth0` is the pod's primary interface and cannot name a connection interface"
        ),
        (
            NB,
            "endpoints[0].image",
            "image `vqfx` is not loaded: images/vqfx/image.meta.yaml has errors"
        ),
        (
            RC,
            "endpoints[1].image",
            "image `vqfx` is not loaded: images/vqfx/image.meta.yaml has errors"
        ),
        (
            RC,
            "endpoints[2].image",
            "image `vqfx` is not loaded: images/vqfx/image.meta.yaml has errors"
        ),
    ]
);

#[test]
fn tier_filter_skips_lower_lessons_without_error() {
    let f = Fixture::example();
    f.edit(NB, "tier: prod", "tier: ptr");
    let loaded = f.load();
    assert_eq!(errors(&loaded), vec![]);
    assert_eq!(loaded.report.skipped.len(), 1);
    assert_eq!(loaded.report.skipped[0].slug, "notebook-automation");
    assert!(
        loaded
            .report
            .summary()
            .ends_with("0 errors, 0 warnings, 1 skipped by tier")
    );
    let curriculum = loaded.valid().expect("valid");
    assert!(curriculum.lesson("notebook-automation").is_none());

    let options = Options {
        tier: Tier::Ptr,
        ..Options::default()
    };
    let loaded = f.load_with(&options);
    assert!(loaded.report.skipped.is_empty());
    assert!(
        loaded
            .valid()
            .expect("valid")
            .lesson("notebook-automation")
            .is_some()
    );
}

// --- checks the original lacked ---

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

// --- report mechanics ---

#[test]
fn yaml_syntax_error_names_file_line_and_column() {
    let f = Fixture::example();
    f.edit(NB, "category: tools", "category: tools: more");
    let loaded = f.load();
    let problems: Vec<_> = loaded
        .report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = problems[0];
    assert_eq!(problem.file, NB);
    assert_eq!((problem.line, problem.column), (Some(3), Some(16)));
    assert!(
        problem.reason == "mapping values are not allowed in this context",
        "{}",
        problem.reason
    );
    assert!(
        problem.to_string().starts_with(&format!("{NB}:3:16: ")),
        "{problem}"
    );
    // The other lessons still load.
    assert_eq!(loaded.curriculum.expect("meta").lessons.len(), 3);
}

#[test]
fn wrong_value_type_names_field_line_and_column() {
    let f = Fixture::example();
    f.edit(
        NB,
        "image: utility\n    presentations:\n      - name: cli\n        port: 22",
        "image: utility\n    presentations:\n      - name: cli\n        port: twenty-two",
    );
    let loaded = f.load();
    let problem = &loaded.report.problems[0];
    assert_eq!(loaded.report.errors(), 1);
    assert_eq!(problem.file, NB);
    assert_eq!(problem.field, "endpoints[1].presentations[0].port");
    assert!(
        problem.reason.contains("invalid type"),
        "{}",
        problem.reason
    );
    assert!(problem.line.is_some() && problem.column.is_some());
}

#[test]
fn unknown_keys_are_warnings_and_errors_under_strict() {
    let f = Fixture::example();
    f.edit(NB, "tier: prod\n", "tier: prod\nteir: prod\n");
    f.edit(
        NB,
        "    guideType: markdown\n",
        "    guideType: markdown\n    guidType: jupyter\n",
    );
    let expected = vec![
        problem(NB, "teir", "unknown key (ignored)"),
        problem(NB, "stages[1].guidType", "unknown key (ignored)"),
    ];
    let loaded = f.load();
    assert_eq!(warnings(&loaded), expected);
    assert_eq!(errors(&loaded), vec![]);
    assert!(loaded.valid().is_some());

    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let loaded = f.load_with(&strict);
    assert_eq!(errors(&loaded), expected);
    assert!(loaded.valid().is_none());
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let f = Fixture::example();
    f.edit(NB, "category: tools", "category: tooling")
        .edit(NB, "  - a: linux1", "  - a: linux9")
        .edit(NB, "tier: prod\n", "tier: prod\nreadyDelay: 4000\n")
        .remove("lessons/notebook-automation/stage1/guide.md")
        .edit(WA, "subnet: 10.1.0.0/24", "subnet: nonsense")
        .edit(WA, "port: 8080", "port: 0")
        .edit(
            "images/webserver/image.meta.yaml",
            "sshUser: antidote\n",
            "",
        )
        .edit(RC, "  - linux-first-steps", "  - nosuch");
    let loaded = f.load();
    assert_eq!(
        errors(&loaded),
        vec![
            problem("images/webserver/image.meta.yaml", "sshUser", "is required"),
            problem(
                NB,
                "category",
                "`tooling` is not one of fundamentals, tools, workflows"
            ),
            problem(
                NB,
                "readyDelay",
                "4000 is out of range: seconds from 0 to 3600"
            ),
            problem(
                NB,
                "stages[1].guideType",
                "guide file `stage1/guide.md` is missing (a markdown stage 1 needs it)"
            ),
            problem(
                NB,
                "connections[0].a",
                "`linux9` is not the name of an endpoint of this lesson"
            ),
            problem(
                WA,
                "endpoints[1].image",
                "image `webserver` is not loaded: images/webserver/image.meta.yaml has errors"
            ),
            problem(
                WA,
                "endpoints[1].presentations[0].port",
                "0 is not a TCP port (1 to 65535)"
            ),
            problem(
                WA,
                "endpoints[3].image",
                "image `webserver` is not loaded: images/webserver/image.meta.yaml has errors"
            ),
            problem(
                WA,
                "connections[0].subnet",
                "`nonsense` is not a CIDR subnet"
            ),
            problem(RC, "prereqs[0]", "no lesson has slug `nosuch`"),
        ]
    );
    // linux-first-steps is the one lesson left intact.
    let curriculum = loaded.curriculum.expect("meta");
    let slugs: Vec<&str> = curriculum.lessons.iter().map(|l| l.slug.as_str()).collect();
    assert_eq!(slugs, vec!["linux-first-steps"]);
    assert!(
        loaded
            .report
            .summary()
            .starts_with("4 lessons, 4 images, 1 collections: 10 errors")
    );
}
