//! The report's mechanics: YAML syntax and type errors with line and column, unknown keys
//! as warnings (errors under strict), and every problem reported in one run.

use antidote_scheduler::curriculum::{Options, Severity};

use crate::support::{Fixture, errors, problem, warnings};
use crate::{NB, RC, WA};

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
