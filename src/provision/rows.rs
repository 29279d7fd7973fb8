//! New livelesson rows: a learner's (admitted, or waiting for capacity) or a warm pool's
//! spare, with the endpoints, hosts and guide derived from the lesson at its current
//! version, under a fresh id.

use std::collections::BTreeMap;

use crate::backend::Settings;
use crate::curriculum::{GuideType, Lesson};
use crate::ids::{LivelessonId, SessionId};
use crate::store::livelesson::{self, NewLivelesson};
use crate::store::{StoreError, curriculum};

use super::endpoints::live_endpoints;

/// What a new livelesson is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKind {
    /// A learner's request; `admitted` false while it waits for capacity.
    Learner {
        /// Capacity admitted it (its CREATE is enqueued).
        admitted: bool,
    },
    /// A spare for the warm pool.
    Spare,
}

/// Inserts a new livelesson of `stored` (its current version) at `stage` in
/// `session_id`, drawing a fresh id. Returns `None` when the session already has an
/// unfinished livelesson of the lesson. The caller enqueues its CREATE.
///
/// # Errors
/// Storage failures.
pub async fn insert_livelesson(
    tx: &mut sqlx::PgConnection,
    settings: &Settings,
    stored: &curriculum::StoredLesson,
    session_id: &SessionId,
    stage: i32,
    kind: NewKind,
    traceparent: Option<&str>,
) -> Result<Option<LivelessonId>, StoreError> {
    let lesson = &stored.lesson;
    let mut images = BTreeMap::new();
    for endpoint in &lesson.endpoints {
        if !images.contains_key(&endpoint.image)
            && let Some(image) = curriculum::image(&mut *tx, &endpoint.image).await?
        {
            images.insert(endpoint.image.clone(), image);
        }
    }
    let (guide_type, guide) = guide(lesson, stage);
    loop {
        let id = LivelessonId::random();
        let endpoints = live_endpoints(settings, lesson, &id);
        let guide_domain = if lesson.uses_jupyter() {
            settings.browser_address(settings.guide_domain(&id))
        } else {
            String::new()
        };
        let new = NewLivelesson {
            id: &id,
            session_id,
            lesson_slug: &lesson.slug,
            lesson_hash: stored.content_hash.as_str(),
            stage,
            guide_type,
            guide_contents: guide,
            guide_domain: &guide_domain,
            images: &images,
            endpoints: &endpoints,
            traceparent,
            spare: kind == NewKind::Spare,
            admitted: !matches!(kind, NewKind::Learner { admitted: false }),
        };
        if livelesson::insert(tx, &new).await? {
            return Ok(Some(id));
        }
        // Either the id was taken (draw again) or the session has the lesson already.
        if kind != NewKind::Spare
            && livelesson::find_active_for_update(tx, session_id, &lesson.slug)
                .await?
                .is_some()
        {
            return Ok(None);
        }
    }
}

/// The guide of `lesson` at `stage`: its type (markdown when the stage has none) and its
/// text.
pub fn guide(lesson: &Lesson, stage: i32) -> (GuideType, &str) {
    let index = usize::try_from(stage).unwrap_or(0);
    let kind = lesson
        .stages
        .get(index)
        .map_or(GuideType::Markdown, |s| s.guide_type);
    (kind, lesson.guide(index).unwrap_or(""))
}
