//! Read-only curriculum: `/exp/lesson`, `/exp/lesson/{slug}`, `/exp/lesson/{slug}/prereqs`,
//! `/exp/collection`, `/exp/collection/{slug}`, `/exp/curriculum` (shapes in
//! [`super::wire::curriculum`]), and our `/exp/image` (never with passwords).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::wire::GatewayError;
use super::wire::curriculum::{
    Collection, Collections, CurriculumInfo, Lesson, LessonPrereqs, LessonSummary, Lessons,
};
use super::{ApiError, AppJson, AppPath, AppState, is_lesson_slug};
use crate::curriculum::{Flavor, Image, prereqs};
use crate::store::curriculum;
use crate::workflow::request::Shown;

/// An image without its credentials: the public part of its definition.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageView {
    /// Slug.
    pub slug: String,
    /// Description.
    pub description: String,
    /// Flavor.
    #[schema(value_type = String)]
    pub flavor: Flavor,
    /// Whether IP forwarding is enabled.
    pub enable_forwarding: bool,
    /// Interface names for connections.
    pub network_interfaces: Vec<String>,
}

// An allow-list, not a deny-list: a credential added to `Image` later stays private.
impl From<Image> for ImageView {
    fn from(image: Image) -> Self {
        Self {
            slug: image.slug,
            description: image.description,
            flavor: image.flavor,
            enable_forwarding: image.enable_forwarding,
            network_interfaces: image.network_interfaces,
        }
    }
}

/// Every image.
#[derive(Debug, Serialize, ToSchema)]
pub struct Images {
    /// Images by slug.
    pub images: Vec<ImageView>,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exp/lesson", get(list_lessons))
        .route("/exp/lesson/{slug}", get(show_lesson))
        .route("/exp/lesson/{slug}/prereqs", get(lesson_prereqs))
        .route("/exp/image", get(list_images))
        .route("/exp/collection", get(list_collections))
        .route("/exp/collection/{slug}", get(show_collection))
        .route("/exp/curriculum", get(show_curriculum))
}

fn unknown_lesson(slug: &str) -> ApiError {
    ApiError::not_found("unknown_lesson", format!("unknown lesson {}", Shown(slug)))
}

/// Every current lesson, by slug.
#[utoipa::path(get, path = "/exp/lesson", tag = "exp", operation_id = "listLessons", responses((status = 200, body = Lessons)))]
pub async fn list_lessons(State(state): State<AppState>) -> Result<AppJson<Lessons>, ApiError> {
    let lessons = curriculum::list_lessons(&state.pool).await?;
    Ok(AppJson(Lessons {
        lessons: lessons
            .into_iter()
            .map(|stored| stored.lesson.into())
            .collect(),
    }))
}

/// One current lesson.
#[utoipa::path(get, path = "/exp/lesson/{slug}", tag = "exp", operation_id = "showLesson",
    params(("slug" = String, Path, description = "lesson slug", pattern = "^[a-z-]{1,128}$",
        example = "linux-first-steps")),
    responses((status = 200, body = Lesson),
              (status = 404, description = "code 5: unknown lesson", body = GatewayError)))]
pub async fn show_lesson(
    State(state): State<AppState>,
    AppPath(slug): AppPath<String>,
) -> Result<AppJson<Lesson>, ApiError> {
    if !is_lesson_slug(&slug) {
        return Err(unknown_lesson(&slug));
    }
    curriculum::current_lesson(&state.pool, &slug)
        .await?
        .map(|stored| AppJson(stored.lesson.into()))
        .ok_or_else(|| unknown_lesson(&slug))
}

/// Every lesson to take before this one: the whole prerequisite tree, flattened and
/// de-duplicated (the course-plan page). An unknown lesson is a 404 here, where the
/// original answered an empty list.
#[utoipa::path(get, path = "/exp/lesson/{slug}/prereqs", tag = "exp", operation_id = "listLessonPrereqs",
    params(("slug" = String, Path, description = "lesson slug", pattern = "^[a-z-]{1,128}$",
        example = "linux-first-steps")),
    responses((status = 200, body = LessonPrereqs),
              (status = 404, description = "code 5: unknown lesson", body = GatewayError)))]
pub async fn lesson_prereqs(
    State(state): State<AppState>,
    AppPath(slug): AppPath<String>,
) -> Result<AppJson<LessonPrereqs>, ApiError> {
    if !is_lesson_slug(&slug) {
        return Err(unknown_lesson(&slug));
    }
    let tree = curriculum::lesson_prereqs(&state.pool).await?;
    if !tree.contains_key(&slug) {
        return Err(unknown_lesson(&slug));
    }
    Ok(AppJson(LessonPrereqs {
        prereqs: prereqs::flatten(&slug, &tree),
    }))
}

/// Every image, without credentials (ours: the original kept images off its REST API).
#[utoipa::path(get, path = "/exp/image", tag = "exp", operation_id = "listImages", responses((status = 200, body = Images)))]
pub async fn list_images(State(state): State<AppState>) -> Result<AppJson<Images>, ApiError> {
    let images = curriculum::list_images(&state.pool).await?;
    Ok(AppJson(Images {
        images: images.into_iter().map(ImageView::from).collect(),
    }))
}

/// Every collection, without its lessons.
#[utoipa::path(get, path = "/exp/collection", tag = "exp", operation_id = "listCollections", responses((status = 200, body = Collections)))]
pub async fn list_collections(
    State(state): State<AppState>,
) -> Result<AppJson<Collections>, ApiError> {
    let collections = curriculum::list_collections(&state.pool).await?;
    Ok(AppJson(Collections {
        collections: collections.into_iter().map(Collection::from).collect(),
    }))
}

/// One collection with a summary of each of its lessons (the collection page).
#[utoipa::path(get, path = "/exp/collection/{slug}", tag = "exp", operation_id = "showCollection",
    params(("slug" = String, Path, description = "collection slug", pattern = "^[a-z-]{1,128}$")),
    responses((status = 200, body = Collection),
              (status = 404, description = "code 5: unknown collection", body = GatewayError)))]
pub async fn show_collection(
    State(state): State<AppState>,
    AppPath(slug): AppPath<String>,
) -> Result<AppJson<Collection>, ApiError> {
    let unknown = || ApiError::not_found("unknown_collection", "Collection not found");
    // Collection slugs have the shape of lesson slugs (`[a-z-]+`).
    if !is_lesson_slug(&slug) {
        return Err(unknown());
    }
    let found = curriculum::collection(&state.pool, &slug)
        .await?
        .ok_or_else(unknown)?;
    let mut collection = Collection::from(found);
    collection.lessons = curriculum::lessons_of_collection(&state.pool, &slug)
        .await?
        .into_iter()
        .map(|lesson| LessonSummary {
            slug: lesson.slug,
            name: lesson.name,
            description: lesson.description,
        })
        .collect();
    Ok(AppJson(collection))
}

/// The curriculum's metadata.
#[utoipa::path(get, path = "/exp/curriculum", tag = "exp", operation_id = "showCurriculum",
    responses((status = 200, body = CurriculumInfo),
              (status = 404, description = "code 5: no curriculum imported yet", body = GatewayError)))]
pub async fn show_curriculum(
    State(state): State<AppState>,
) -> Result<AppJson<CurriculumInfo>, ApiError> {
    curriculum::curriculum_meta(&state.pool)
        .await?
        .map(|meta| AppJson(meta.into()))
        .ok_or_else(|| ApiError::not_found("no_curriculum", "no curriculum imported yet"))
}
