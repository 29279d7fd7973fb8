//! The lesson rules of the original: unique endpoint and presentation names, each stage's
//! configuration files and guides, connections, prerequisites, image interfaces, and the
//! tier filter.

use antidote_scheduler::curriculum::{Options, Tier};

use crate::support::{Fixture, errors, problem};
use crate::{L1, NB, RC, VQFX, WA};

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
