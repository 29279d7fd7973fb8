//! Fuzz target: the curriculum loader (`curriculum::load_from`) over files made from the
//! input. It must never panic, whatever the bytes; problems in the report are fine. A
//! lesson it accepts must build objects that kubesim's validation accepts (the
//! `resources::check` oracle the property tests use).
//!
//! Input: either the text of one `lessons/fuzz/lesson.meta.yaml`, or files introduced by
//! `=== <path>` lines (see README.md). Either way the files land on top of a small valid
//! curriculum (meta, a collection, two images, guides for four stages), so a mutated
//! lesson quickly reaches the deep checks.

#![no_main]

use std::collections::BTreeMap;

use antidote_scheduler::backend::Livelesson;
use antidote_scheduler::backend::Settings;
use antidote_scheduler::backend::kubernetes::resources::check;
use antidote_scheduler::curriculum::{Files, Options, load_from};
use libfuzzer_sys::fuzz_target;

const HEADER: &[u8] = b"=== ";
const LESSON: &str = "lessons/fuzz/lesson.meta.yaml";

const BASE: &[(&str, &str)] = &[
    (
        "curriculum.meta.yaml",
        "name: fuzz\ndescription: d\nwebsite: https://example.org\naVer: 1\ngitRoot: g\n",
    ),
    (
        "collections/c/collection.meta.yaml",
        "slug: c\ntitle: T\nimage: i\nwebsite: w\nbriefDescription: b\nlongDescription: l\n\
         type: community\ntier: prod\n",
    ),
    (
        "images/utility/image.meta.yaml",
        "slug: utility\nflavor: untrusted\nsshUser: u\nsshPassword: p\nconfigUser: u\n\
         configPassword: p\n",
    ),
    (
        "images/vqfx/image.meta.yaml",
        "slug: vqfx\nflavor: trusted\nenableForwarding: true\nnetworkInterfaces: [em3, em4]\n\
         sshUser: u\nsshPassword: p\nconfigUser: root\nconfigPassword: p\n",
    ),
    ("lessons/fuzz/stage0/guide.md", "# Stage 0"),
    ("lessons/fuzz/stage1/guide.md", "# Stage 1"),
    ("lessons/fuzz/stage2/guide.ipynb", "{\"cells\": []}"),
    ("lessons/fuzz/stage3/guide.md", "# Stage 3"),
];

/// The files of one input: the base curriculum, then the input's files over it.
fn files(data: &[u8]) -> Files {
    let mut files: Files = BASE.iter().copied().collect();
    if !data.starts_with(HEADER) {
        files.insert(LESSON, data);
        return files;
    }
    // Sections start at lines beginning with `=== `; the rest of that line is the path.
    let mut rest = data;
    while let Some(after) = rest.strip_prefix(HEADER) {
        let line_end = after
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(after.len());
        let path = String::from_utf8_lossy(&after[..line_end]).into_owned();
        let body = after.get(line_end + 1..).unwrap_or_default();
        let end = body
            .windows(HEADER.len() + 1)
            .position(|w| w[0] == b'\n' && &w[1..] == HEADER)
            .map_or(body.len(), |i| i + 1);
        files.insert(path, &body[..end]);
        rest = &body[end..];
    }
    files
}

fuzz_target!(|data: &[u8]| {
    let files = files(data);
    let loaded = load_from(&files, &Options::default());
    // Reports are printed by the CLI: every problem must render.
    for problem in &loaded.report.problems {
        let _ = problem.to_string();
    }
    let _ = loaded.report.summary();
    let Some(curriculum) = loaded.valid() else {
        return;
    };
    let settings = Settings::default();
    for lesson in &curriculum.lessons {
        let images: BTreeMap<_, _> = lesson
            .endpoints
            .iter()
            .filter_map(|e| curriculum.image(&e.image))
            .map(|image| (image.slug.clone(), image.clone()))
            .collect();
        let ll = Livelesson {
            id: "abcde12345",
            session_id: "sess000001",
            lesson,
            images: &images,
        };
        let problems = check::problems(&settings, &ll);
        assert!(
            problems.is_empty(),
            "lesson {} loads but kubesim refuses its objects: {problems:#?}",
            lesson.slug
        );
    }
});
