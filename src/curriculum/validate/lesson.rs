//! `lesson.meta.yaml`: a lesson as a whole (its fields, its collection, `readyDelay`,
//! names unique across endpoints and ingresses); its stages, endpoints and connections are
//! checked by their own files.

use std::collections::{BTreeMap, HashSet};

use crate::curriculum::model::{Author, Category, GuideType, Lesson, PresentationType, Tier};
use crate::curriculum::names;
use crate::curriculum::raw::RawLesson;
use crate::curriculum::report::FileProblems;
use crate::curriculum::source::Source;

use super::connections::connections;
use super::context::{Known, LessonContext};
use super::endpoint::endpoint;
use super::fields::{enumerated, lesson_slug, required};
use super::stages::stages;

/// Longest accepted `readyDelay`, in seconds (an hour: anything longer is a typo).
pub const MAX_READY_DELAY_SECS: i64 = 3600;

/// The tier of a raw lesson, when it is valid (the tier filter runs before validation).
pub(crate) fn raw_tier(raw: &RawLesson) -> Option<Tier> {
    raw.tier.as_deref().and_then(Tier::parse)
}

pub(crate) fn lesson(
    raw: RawLesson,
    source: &impl Source,
    dir: &str,
    cx: &LessonContext<'_>,
    p: &mut FileProblems<'_>,
) -> Option<Lesson> {
    let name = required(p, "name", raw.name);
    let slug = lesson_slug(p, "slug", raw.slug);
    let category = enumerated(
        p,
        "category",
        raw.category.as_deref(),
        Category::parse,
        Category::ALL,
    );
    let tier = enumerated(p, "tier", raw.tier.as_deref(), Tier::parse, Tier::ALL);
    let description = required(p, "description", raw.description);
    let short_description = required(p, "shortDescription", raw.short_description);
    let collection = raw.collection.filter(|slug| !slug.is_empty());
    if let Some(slug) = &collection {
        match cx.collections.get(slug) {
            Some(Known::Valid) => {}
            Some(Known::Invalid(file)) => p.error(
                "collection",
                format!("collection `{slug}` is not loaded: {file} has errors"),
            ),
            Some(Known::BelowTier(tier)) => p.error(
                "collection",
                format!("collection `{slug}` has tier {tier}, below the configured tier, so it is not imported"),
            ),
            None => p.error(
                "collection",
                format!("no collection has slug `{slug}` (collections/**/collection.meta.yaml)"),
            ),
        }
    }
    let ready_delay = match raw.ready_delay {
        None => 0,
        Some(delay) => match u32::try_from(delay) {
            Ok(secs) if i64::from(secs) <= MAX_READY_DELAY_SECS => secs,
            _ => {
                p.error_eg(
                    "readyDelay",
                    format!("{delay} is out of range: seconds from 0 to {MAX_READY_DELAY_SECS}"),
                    "readyDelay: 5",
                );
                0
            }
        },
    };

    let budget = raw.budget.filter(|size| !size.is_empty());
    if let Some(size) = &budget
        && !cx.budget_sizes.iter().any(|known| known == size)
    {
        p.error_eg(
            "budget",
            format!(
                "lesson `{}` asks for budget size `{size}`, which is not defined; sizes: {}",
                slug,
                cx.budget_sizes.join(", ")
            ),
            "budget: small",
        );
    }

    let mut files = BTreeMap::new();
    let stages = stages(raw.stages, source, dir, p, &mut files);
    let mut endpoints = Vec::new();
    let raw_endpoints = raw.endpoints.unwrap_or_default();
    if raw_endpoints.is_empty() {
        p.error_eg("endpoints", "at least one endpoint is required", "endpoints: [{name: linux1, image: utility, presentations: [{name: cli, port: 22, type: ssh}]}]");
    }
    // Names as written, valid or not: connections are checked against these, so one bad
    // endpoint name is reported once rather than again by every connection naming it.
    let mut endpoint_names = HashSet::new();
    let jupyter = stages.iter().any(|s| s.guide_type == GuideType::Jupyter);
    for (i, raw) in raw_endpoints.iter().enumerate() {
        let Some(name) = raw.name.clone() else {
            continue;
        };
        if !endpoint_names.insert(name.clone()) {
            p.error(
                format!("endpoints[{i}].name"),
                format!("duplicate endpoint name `{name}`"),
            );
        }
        if jupyter && name == names::JUPYTER_ENDPOINT {
            p.error(
                format!("endpoints[{i}].name"),
                format!("`{name}` is reserved for the jupyter guide endpoint of lessons with jupyter stages"),
            );
        }
    }
    // Ingress name → the presentation that has it.
    let mut ingresses: BTreeMap<String, String> = BTreeMap::new();
    for (i, raw) in raw_endpoints.into_iter().enumerate() {
        let Some(endpoint) = endpoint(raw, i, &stages, source, dir, cx, p) else {
            continue;
        };
        for (j, presentation) in endpoint.presentations.iter().enumerate() {
            if presentation.kind != PresentationType::Http {
                continue;
            }
            let presentation_field = format!("endpoints[{i}].presentations[{j}]");
            let field = format!("{presentation_field}.name");
            let name = names::ingress_name(&endpoint.name, &presentation.name);
            if let Some(first) = ingresses.get(&name) {
                p.error(
                    &field,
                    format!(
                        "its ingress and host would be named `{name}` like those of {first}; rename the endpoint or the presentation"
                    ),
                );
            } else {
                ingresses.insert(name, presentation_field);
            }
        }
        endpoints.push(endpoint);
    }
    if let Some(first) = stages
        .iter()
        .position(|s| s.guide_type == GuideType::Jupyter)
    {
        let len = names::ingress_host_label_len(
            cx.instance_id,
            names::JUPYTER_ENDPOINT,
            names::JUPYTER_PRESENTATION,
        );
        if len > names::MAX_LABEL_LEN {
            p.error(
                format!("stages[{first}].guideType"),
                format!(
                    "the jupyter guide's host label `<namespace>-{}-{}` would be {len} characters with instance id `{}` (at most {})",
                    names::JUPYTER_ENDPOINT,
                    names::JUPYTER_PRESENTATION,
                    cx.instance_id,
                    names::MAX_LABEL_LEN
                ),
            );
        }
    }
    let connections = connections(raw.connections, &endpoint_names, p);
    let authors = raw
        .authors
        .unwrap_or_default()
        .into_iter()
        .map(|author| Author {
            name: author.name.unwrap_or_default(),
            link: author.link.unwrap_or_default(),
        })
        .collect();

    let lesson = Lesson {
        name,
        slug,
        category: category?,
        diagram: raw.diagram.filter(|url| !url.is_empty()),
        video: raw.video.filter(|url| !url.is_empty()),
        tier: tier?,
        collection,
        description,
        short_description,
        prereqs: raw.prereqs.unwrap_or_default(),
        tags: raw.tags.unwrap_or_default(),
        stages,
        endpoints,
        connections,
        authors,
        ready_delay,
        budget,
        files,
    };
    (p.errors() == 0).then_some(lesson)
}
