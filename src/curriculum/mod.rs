//! Curriculum: loading and validating lessons, images and collections from a directory
//! (pure: files in, typed definitions and a report out; no database, no network).
//!
//! A curriculum directory holds `curriculum.meta.yaml`, `collections/**/collection.meta.yaml`,
//! `images/**/image.meta.yaml` and `lessons/**/lesson.meta.yaml`; stage `N` of a lesson
//! lives in `stageN/` beside its `lesson.meta.yaml` (`guide.md` or `guide.ipynb`, and
//! `configs/`). [`load`] reads all of it and reports every problem in one [`Report`];
//! [`load_from`] does the same over any [`Source`], such as [`Files`] in memory.

mod hash;
mod model;
pub mod names;
pub mod prereqs;
mod raw;
mod report;
mod source;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::secret::Secret;
pub use hash::{ContentHash, content_hash};
pub use model::{
    Author, Category, Collection, CollectionType, ConfigurationFile, ConfigurationType, Connection,
    Curriculum, CurriculumMeta, Endpoint, Flavor, GuideType, Image, Lesson, NapalmDriver,
    Presentation, PresentationType, Stage, Tier,
};
pub use report::{Problem, Report, Severity, Skipped};
pub use source::{Dir, Entry, EntryKind, Files, Source};
pub use validate::{MAX_READY_DELAY_SECS, napalm_driver};

use raw::{RawCollection, RawImage, RawLesson, RawMeta};
use report::FileProblems;
use validate::{Known, LessonContext};

/// Instance id assumed when none is configured (the original's default `InstanceID`).
pub const DEFAULT_INSTANCE_ID: &str = "antidote";

/// Settings that change what is loaded or how strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Lessons and collections below this tier are skipped (not an error).
    pub tier: Tier,
    /// Treat warnings (unknown keys) as errors.
    pub strict: bool,
    /// This scheduler instance's id: the prefix of every namespace, so it bounds how long
    /// lesson names may be.
    pub instance_id: String,
    /// The resource budget sizes a lesson's `budget` may name: [`BUDGET_SIZES`] and the
    /// operator's own (`backend.budgets.sizes`).
    pub budget_sizes: Vec<String>,
}

/// The built-in resource budget sizes, smallest first (Educates's names); the backend
/// holds their figures.
pub const BUDGET_SIZES: [&str; 6] = [
    "small",
    "medium",
    "large",
    "x-large",
    "xx-large",
    "xxx-large",
];

impl Default for Options {
    /// Tier `prod` (as the original), not strict, instance id [`DEFAULT_INSTANCE_ID`], the
    /// built-in budget sizes.
    fn default() -> Self {
        Self {
            tier: Tier::Prod,
            strict: false,
            instance_id: DEFAULT_INSTANCE_ID.to_owned(),
            budget_sizes: BUDGET_SIZES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What [`load`] found.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The valid definitions, or `None` when `curriculum.meta.yaml` itself is unusable.
    /// Invalid lessons, images and collections are left out, never half-loaded.
    pub curriculum: Option<Curriculum>,
    /// Every problem, the counts and the tier skips.
    pub report: Report,
}

impl Loaded {
    /// The curriculum when the report has no errors: what may be imported.
    pub fn valid(&self) -> Option<&Curriculum> {
        if self.report.has_errors() {
            None
        } else {
            self.curriculum.as_ref()
        }
    }
}

/// Loads and validates the curriculum in `dir`. Never stops at the first problem: one bad
/// lesson is reported and left out while the others load.
pub fn load(dir: &Path, options: &Options) -> Loaded {
    load_from(&Dir::new(dir), options)
}

/// Loads and validates the curriculum that `source` holds, as [`load`] does for a
/// directory. Problems name files by their path in `source`.
pub fn load_from(source: &impl Source, options: &Options) -> Loaded {
    let mut report = Report::default();
    let problems = &mut report.problems;

    if let Some(reason) = names::instance_id_problem(&options.instance_id) {
        FileProblems::new("<options>", problems).error_eg(
            "instanceId",
            format!("`{}` {reason}", options.instance_id),
            DEFAULT_INSTANCE_ID,
        );
    }

    let meta = {
        let file = "curriculum.meta.yaml";
        let mut p = FileProblems::new(file, problems);
        match read_text(source, file, &mut p) {
            Some(text) => {
                raw::parse::<RawMeta>(&text, &mut p).and_then(|raw| validate::meta(raw, &mut p))
            }
            None => None,
        }
    };

    // Collections: tier skips are counted, never an error (the original made them fatal).
    let mut collection_states = BTreeMap::new();
    let mut collections = Vec::new();
    let collection_files = find(source, "collections", "collection.meta.yaml", problems);
    report.collections = collection_files.len();
    let mut first_file: BTreeMap<String, String> = BTreeMap::new();
    for file in collection_files {
        let mut p = FileProblems::new(&file, problems);
        let Some(text) = read_text(source, &file, &mut p) else {
            continue;
        };
        let Some(raw) = raw::parse::<RawCollection>(&text, &mut p) else {
            continue;
        };
        let slug = raw.slug.clone().unwrap_or_default();
        let parsed = validate::collection(raw, &mut p);
        if !slug.is_empty() && !claim_slug(&mut first_file, &slug, &file, &mut p) {
            continue;
        }
        match parsed {
            Some(collection) if collection.tier < options.tier => {
                collection_states.insert(slug.clone(), Known::BelowTier(collection.tier));
                report.skipped.push(Skipped {
                    kind: "collection",
                    slug,
                    file,
                    tier: collection.tier,
                });
            }
            Some(collection) => {
                collection_states.insert(slug, Known::Valid);
                collections.push(collection);
            }
            None => {
                collection_states.insert(slug, Known::Invalid(file));
            }
        }
    }

    let mut image_states = BTreeMap::new();
    let mut images = Vec::new();
    let image_files = find(source, "images", "image.meta.yaml", problems);
    report.images = image_files.len();
    let mut first_file: BTreeMap<String, String> = BTreeMap::new();
    for file in image_files {
        let mut p = FileProblems::new(&file, problems);
        let Some(text) = read_text(source, &file, &mut p) else {
            continue;
        };
        let Some(raw) = raw::parse::<RawImage>(&text, &mut p) else {
            continue;
        };
        let slug = raw.slug.clone().unwrap_or_default();
        let parsed = validate::image(raw, &mut p);
        if !slug.is_empty() && !claim_slug(&mut first_file, &slug, &file, &mut p) {
            continue;
        }
        match parsed {
            Some(image) => {
                image_states.insert(slug, Known::Valid);
                images.push(image);
            }
            None => {
                image_states.insert(slug, Known::Invalid(file));
            }
        }
    }

    let cx = LessonContext {
        instance_id: &options.instance_id,
        images: &image_states,
        collections: &collection_states,
        budget_sizes: &options.budget_sizes,
    };
    // Lesson slug → its state, for the prereq check; valid lessons with their file.
    let mut lesson_states: BTreeMap<String, Known> = BTreeMap::new();
    let mut lessons: Vec<(String, Lesson)> = Vec::new();
    let lesson_files = find(source, "lessons", "lesson.meta.yaml", problems);
    report.lessons = lesson_files.len();
    let mut first_file: BTreeMap<String, String> = BTreeMap::new();
    for file in lesson_files {
        let mut p = FileProblems::new(&file, problems);
        let Some(text) = read_text(source, &file, &mut p) else {
            continue;
        };
        let Some(raw) = raw::parse::<RawLesson>(&text, &mut p) else {
            continue;
        };
        let slug = raw.slug.clone().unwrap_or_default();
        if !slug.is_empty() && !claim_slug(&mut first_file, &slug, &file, &mut p) {
            continue;
        }
        if let Some(tier) = validate::raw_tier(&raw)
            && tier < options.tier
        {
            lesson_states.insert(slug.clone(), Known::BelowTier(tier));
            report.skipped.push(Skipped {
                kind: "lesson",
                slug,
                file,
                tier,
            });
            continue;
        }
        let lesson_dir = source::parent(&file);
        for endpoint in raw.endpoints.iter().flatten() {
            if let Some(image) = endpoint.image.as_deref()
                && !image.is_empty()
                && !image_states.contains_key(image)
            {
                report.missing_images.insert(image.to_owned());
            }
        }
        match validate::lesson(raw, source, lesson_dir, &cx, &mut p) {
            Some(lesson) => {
                lesson_states.insert(slug, Known::Valid);
                lessons.push((file, lesson));
            }
            None => {
                lesson_states.insert(slug, Known::Invalid(file));
            }
        }
    }

    // Prereqs must name lessons that this import stores (or that fail on their own).
    lessons.retain(|(file, lesson)| {
        let mut p = FileProblems::new(file.as_str(), problems);
        for (i, prereq) in lesson.prereqs.iter().enumerate() {
            let field = format!("prereqs[{i}]");
            match lesson_states.get(prereq) {
                Some(Known::BelowTier(tier)) => p.error(
                    field,
                    format!("lesson `{prereq}` has tier {tier}, below the configured tier {}, so it is not imported", options.tier),
                ),
                // Valid, or invalid: then its own errors already fail the run, and
                // repeating them here for every lesson that builds on it would bury
                // the cause.
                Some(Known::Valid | Known::Invalid(_)) => {}
                None => p.error(field, format!("no lesson has slug `{prereq}`")),
            }
        }
        p.errors() == 0
    });

    if options.strict {
        for problem in &mut report.problems {
            problem.severity = Severity::Error;
        }
    }
    let curriculum = meta.map(|meta| Curriculum {
        meta,
        collections,
        images,
        lessons: lessons.into_iter().map(|(_, lesson)| lesson).collect(),
    });
    Loaded { curriculum, report }
}

/// Records the first file defining `slug`; on a repeat reports the duplicate and returns false.
fn claim_slug(
    first: &mut BTreeMap<String, String>,
    slug: &str,
    file: &str,
    p: &mut FileProblems<'_>,
) -> bool {
    if let Some(other) = first.get(slug) {
        p.error(
            "slug",
            format!("duplicate slug `{slug}`: {other} defines it too"),
        );
        return false;
    }
    first.insert(slug.to_owned(), file.to_owned());
    true
}

fn read_text(source: &impl Source, path: &str, p: &mut FileProblems<'_>) -> Option<String> {
    match source.read(path) {
        Ok(bytes) => {
            if let Ok(text) = String::from_utf8(bytes) {
                Some(text)
            } else {
                p.error("", "is not UTF-8 text");
                None
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            p.error("", "file not found");
            None
        }
        Err(err) => {
            p.error("", format!("cannot read: {err}"));
            None
        }
    }
}

/// Paths of the files named `name` anywhere under `sub`, sorted by path component (as
/// paths on disk sort) so reports are stable. A missing `sub` directory holds nothing.
fn find(
    source: &impl Source,
    sub: &str,
    name: &str,
    problems: &mut Vec<report::Problem>,
) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![sub.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = match source.list(&current) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                FileProblems::new(current.as_str(), problems)
                    .error("", format!("cannot list directory: {err}"));
                continue;
            }
        };
        for entry in entries {
            let path = source::join(&current, &entry.name);
            match entry.kind {
                EntryKind::Dir => pending.push(path),
                _ if entry.name == name => found.push(path),
                _ => {}
            }
        }
    }
    found.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    found
}
