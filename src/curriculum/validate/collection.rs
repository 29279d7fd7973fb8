//! `collection.meta.yaml`: a collection of lessons.

use crate::curriculum::model::{Collection, CollectionType, Tier};
use crate::curriculum::raw::RawCollection;
use crate::curriculum::report::FileProblems;

use super::fields::{enumerated, lesson_slug, required};

pub(crate) fn collection(raw: RawCollection, p: &mut FileProblems<'_>) -> Option<Collection> {
    let slug = lesson_slug(p, "slug", raw.slug);
    let title = required(p, "title", raw.title);
    let image = required(p, "image", raw.image);
    let website = required(p, "website", raw.website);
    let brief_description = required(p, "briefDescription", raw.brief_description);
    let long_description = required(p, "longDescription", raw.long_description);
    let kind = enumerated(
        p,
        "type",
        raw.kind.as_deref(),
        CollectionType::parse,
        CollectionType::ALL,
    );
    let tier = enumerated(p, "tier", raw.tier.as_deref(), Tier::parse, Tier::ALL);
    Some(Collection {
        slug,
        title,
        image,
        website,
        contact_email: raw.contact_email.unwrap_or_default(),
        brief_description,
        long_description,
        kind: kind?,
        tier: tier?,
    })
    .filter(|_| p.errors() == 0)
}
