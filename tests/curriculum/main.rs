//! Curriculum validation: the example curriculum is clean, and every rule rejects a copy of
//! it with exactly one thing broken, naming file, field and reason.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../fixtures/curriculum/support.rs"]
mod support;

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

mod added_rules;
mod example;
mod lesson_rules;
mod report;
mod schema;
