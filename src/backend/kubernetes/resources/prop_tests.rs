//! Property tests: for generated lessons that the real curriculum loader accepts, every
//! object the builders make is accepted by kubesim's validation (see [`check`]).
//!
//! The generators produce the inputs that flow into Kubernetes names, near and across the
//! validator's limits: instance ids up to [`MAX_INSTANCE_ID_LEN`], lesson slugs, image
//! slugs, endpoint and presentation names (short ones from a tiny alphabet, so that
//! `a-b`+`c` and `a`+`b-c` meet, and long ones up to and past 63 characters), ports, stage
//! counts, connections, lesson file names, session and livelesson ids. A generated lesson
//! is written as files in memory and loaded by [`load_from`]; the ones it refuses are
//! discarded, so the property covers exactly what the validator lets through.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::check;
use super::fixture::images_of;
use crate::backend::{Livelesson, Settings};
use crate::curriculum::names::MAX_INSTANCE_ID_LEN;
use crate::curriculum::{Curriculum, Files, Options, load_from};
use crate::ids::{LivelessonId, SessionId};

/// One generated curriculum: one lesson, its images, and the ids of one livelesson.
#[derive(Debug, Clone)]
struct Case {
    instance_id: String,
    livelesson_id: LivelessonId,
    session_id: SessionId,
    files: Files,
}

impl Case {
    /// The curriculum when the loader accepts it without a problem.
    fn load(&self) -> Option<Curriculum> {
        let options = Options {
            instance_id: self.instance_id.clone(),
            ..Options::default()
        };
        let loaded = load_from(&self.files, &options);
        let curriculum = loaded.valid()?.clone();
        (curriculum.lessons.len() == 1).then_some(curriculum)
    }

    fn problems(&self, curriculum: &Curriculum) -> Vec<String> {
        let lesson = &curriculum.lessons[0];
        let images = images_of(curriculum, lesson);
        let ll = Livelesson {
            id: &self.livelesson_id,
            session_id: &self.session_id,
            lesson,
            images: &images,
        };
        let settings = Settings {
            instance_id: self.instance_id.clone(),
            ..Settings::default()
        };
        check::problems(&settings, &ll)
    }
}

/// Names from a tiny alphabet joined by `-`: they collide when concatenated.
fn short_name() -> impl Strategy<Value = String> {
    prop::collection::vec("[ab]", 1..=3).prop_map(|parts| parts.join("-"))
}

/// A DNS-1123 label shape of 1 to 66 characters: up to and just past the 63 limit.
fn long_name(first: &'static str) -> impl Strategy<Value = String> {
    (0..=65usize).prop_flat_map(move |len| {
        let body = if len == 0 {
            first.to_owned()
        } else {
            format!("{first}[a-z0-9-]{{{}}}[a-z0-9]", len - 1)
        };
        proptest::string::string_regex(&body).expect("a valid regex")
    })
}

fn endpoint_name() -> impl Strategy<Value = String> {
    prop_oneof![3 => short_name(), 1 => long_name("[a-z]")]
}

fn presentation_name() -> impl Strategy<Value = String> {
    prop_oneof![3 => short_name(), 1 => long_name("[a-z0-9]"), 1 => Just("web".to_owned())]
}

fn instance_id() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("antidote".to_owned()),
        2 => (1..=MAX_INSTANCE_ID_LEN).prop_flat_map(|len| {
            let regex = if len == 1 {
                "[a-z0-9]".to_owned()
            } else {
                format!("[a-z0-9][a-z0-9-]{{{}}}[a-z0-9]", len - 2)
            };
            proptest::string::string_regex(&regex).expect("a valid regex")
        }),
    ]
}

/// Lesson slugs `[a-z-]`, up to 64 characters (one past the limit).
fn lesson_slug() -> impl Strategy<Value = String> {
    "[a-z]([a-z-]{0,62}[a-z])?"
}

/// Image slugs `[A-Za-z0-9-]`, mostly short, sometimes long enough that a key derived
/// from them passes the 253 characters of a Secret key.
fn image_slug() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z][a-z0-9-]{0,10}", 1 => "[A-Za-z0-9-]{236,248}"]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(1u16),
        Just(22),
        Just(80),
        Just(8888),
        Just(65535),
        1..=65535u16
    ]
}

fn image() -> impl Strategy<Value = Value> {
    (
        image_slug(),
        prop::sample::select(vec!["trusted", "untrusted", "legacy"]),
        any::<bool>(),
        prop::collection::vec("[a-z]{1,3}[0-9]{1,2}", 0..4),
    )
        .prop_map(|(slug, flavor, forwarding, interfaces)| {
            json!({
                "slug": slug,
                "flavor": flavor,
                "enableForwarding": forwarding,
                "networkInterfaces": interfaces,
                "sshUser": "antidote",
                "sshPassword": "antidotepassword",
                "configUser": "root",
                "configPassword": "Antidote1",
            })
        })
}

/// An endpoint: (name, image index, configuration type, presentations, additional ports).
type RawEndpoint = (
    String,
    usize,
    Option<&'static str>,
    Vec<(String, u16, &'static str)>,
    Vec<u16>,
);

fn endpoint() -> impl Strategy<Value = RawEndpoint> {
    (
        endpoint_name(),
        0..3usize,
        prop::option::weighted(
            0.4,
            prop::sample::select(vec!["python", "ansible", "napalm"]),
        ),
        prop::collection::vec(
            (
                presentation_name(),
                port(),
                prop::sample::select(vec!["ssh", "ssh", "http"]),
            ),
            0..3,
        ),
        prop::collection::vec(port(), 0..3),
    )
}

/// Names of helper files in `configs/`, some with spaces, `_` or non-ASCII letters, which
/// ConfigMap keys cannot hold, and some in a subdirectory.
fn helper_file() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a _]{1,2}",
        "[a _]{1,2}-[0-9]",
        "sub/[a _]{1,2}",
        "[ab _.é-]{1,5}",
    ]
    .prop_filter("not a directory name", |name| {
        name.split('/').all(|part| part != "." && part != "..")
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        instance_id(),
        "[a-z0-9]{10}",
        "[a-z0-9]{10}",
        lesson_slug(),
        prop::collection::vec(image(), 1..=3),
        prop::collection::vec(prop::bool::weighted(0.05), 1..=12),
        prop::collection::vec(endpoint(), 1..=5),
        prop::collection::vec((0..5usize, 1..5usize, prop::option::of(0..=255u8)), 0..4),
        prop::collection::vec(helper_file(), 0..6),
    )
        .prop_map(
            |(instance_id, livelesson_id, session_id, slug, images, stages, endpoints, links, helpers)| {
                // Duplicates and self-links are refused by rules that say nothing about
                // names; dropping them here keeps most generated lessons valid.
                let mut seen = std::collections::BTreeSet::new();
                let images: Vec<Value> = images
                    .into_iter()
                    .filter(|image| seen.insert(image["slug"].to_string()))
                    .collect();
                let mut seen = std::collections::BTreeSet::new();
                let endpoints: Vec<RawEndpoint> = endpoints
                    .into_iter()
                    .filter(|endpoint| seen.insert(endpoint.0.clone()))
                    .map(|(name, image, config, presentations, mut ports)| {
                        let mut seen = std::collections::BTreeSet::new();
                        let presentations: Vec<_> = presentations
                            .into_iter()
                            .filter(|p| seen.insert(p.0.clone()))
                            .collect();
                        if presentations.is_empty() && ports.is_empty() {
                            ports.push(22);
                        }
                        (name, image, config, presentations, ports)
                    })
                    .collect();
                let mut seen = std::collections::BTreeSet::new();
                let links: Vec<(usize, usize, Option<u8>)> = links
                    .into_iter()
                    .map(|(a, offset, subnet)| {
                        let a = a % endpoints.len();
                        (a, (a + offset) % endpoints.len(), subnet)
                    })
                    .filter(|&(a, b, _)| a != b && seen.insert((a.min(b), a.max(b))))
                    .collect();
                let mut files = Files::new();
                files.insert(
                    "curriculum.meta.yaml",
                    "name: generated\ndescription: d\nwebsite: https://example.com\naVer: 1\ngitRoot: https://example.com\n",
                );
                let mut slugs = Vec::new();
                for (i, image) in images.into_iter().enumerate() {
                    slugs.push(image["slug"].as_str().unwrap_or_default().to_owned());
                    files.insert(format!("images/i{i}/image.meta.yaml"), image.to_string());
                }
                let dir = "lessons/l";
                let stage_values: Vec<Value> = stages
                    .iter()
                    .enumerate()
                    .map(|(i, &jupyter)| {
                        if jupyter {
                            files.insert(format!("{dir}/stage{i}/guide.ipynb"), "{}");
                        } else {
                            files.insert(format!("{dir}/stage{i}/guide.md"), "# Guide");
                        }
                        json!({
                            "description": format!("stage {i}"),
                            "guideType": if jupyter { "jupyter" } else { "markdown" },
                        })
                    })
                    .collect();
                for helper in &helpers {
                    files.insert(format!("{dir}/stage0/configs/{helper}"), "helper");
                }
                let endpoint_values: Vec<Value> = endpoints
                    .iter()
                    .map(|(name, image, config, presentations, ports)| {
                        if let Some(kind) = config {
                            let file = match *kind {
                                "python" => format!("{name}.py"),
                                "ansible" => format!("{name}.yml"),
                                _ => format!("{name}-junos.txt"),
                            };
                            for stage in 0..stages.len() {
                                files.insert(format!("{dir}/stage{stage}/configs/{file}"), "x");
                            }
                        }
                        json!({
                            "name": name,
                            "image": slugs[image % slugs.len()],
                            "configurationType": config,
                            "presentations": presentations
                                .iter()
                                .map(|(name, port, kind)| json!({"name": name, "port": port, "type": kind}))
                                .collect::<Vec<_>>(),
                            "additionalPorts": ports,
                        })
                    })
                    .collect();
                let connections: Vec<Value> = links
                    .iter()
                    .map(|&(a, b, subnet)| {
                        json!({
                            "a": endpoints[a].0,
                            "b": endpoints[b].0,
                            "subnet": subnet.map(|n| format!("10.{n}.0.0/24")),
                        })
                    })
                    .collect();
                let lesson = json!({
                    "name": "Generated",
                    "slug": slug,
                    "category": "fundamentals",
                    "tier": "prod",
                    "description": "d",
                    "shortDescription": "s",
                    "stages": stage_values,
                    "endpoints": endpoint_values,
                    "connections": connections,
                });
                // JSON is YAML: no quoting rules to get wrong.
                files.insert(format!("{dir}/lesson.meta.yaml"), lesson.to_string());
                Case {
                    instance_id,
                    livelesson_id: livelesson_id.into(),
                    session_id: session_id.into(),
                    files,
                }
            },
        )
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        max_global_rejects: 4096,
        // Failures become plain regression tests (`regression_tests.rs`), not seed files.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn every_object_of_a_valid_generated_lesson_is_accepted_by_kubesim(case in case()) {
        let curriculum = case.load();
        prop_assume!(curriculum.is_some(), "the curriculum validation refuses it");
        let problems = case.problems(&curriculum.unwrap());
        prop_assert!(problems.is_empty(), "{problems:#?}");
    }
}

/// The generators must mostly produce lessons the validator accepts, or the property
/// says little: this samples them and counts.
#[test]
fn most_generated_lessons_are_valid() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let total = 300;
    let mut valid = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..total {
        let case = strategy.new_tree(&mut runner).expect("a value").current();
        if case.load().is_some() {
            valid += 1;
        } else {
            let options = Options {
                instance_id: case.instance_id.clone(),
                ..Options::default()
            };
            let loaded = load_from(&case.files, &options);
            if let Some(problem) = loaded.report.problems.first() {
                *reasons
                    .entry(problem.reason.chars().take(40).collect())
                    .or_default() += 1;
            }
        }
    }
    eprintln!(
        "{valid} of {total} generated lessons are valid; first problems of the rest: {reasons:#?}"
    );
    assert!(valid * 100 >= total * 40, "only {valid} of {total} valid");
}
