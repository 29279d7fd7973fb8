//! Read-only curriculum: `/exp/lesson`, `/exp/lesson/{slug}`, `/exp/image` (never with
//! passwords), `/exp/collection`, `/exp/curriculum`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppJson, AppPath, AppState, is_lesson_slug};
use crate::curriculum::{Collection, CurriculumMeta, Flavor, Image, Lesson};
use crate::store::curriculum;
use crate::workflow::request::Shown;

/// Every lesson.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lessons {
    /// Lessons by slug (definitions; guide files are left out).
    #[schema(value_type = Vec<Object>)]
    pub lessons: Vec<Lesson>,
}

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

/// Every collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct Collections {
    /// Collections by slug.
    #[schema(value_type = Vec<Object>)]
    pub collections: Vec<Collection>,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exp/lesson", get(list_lessons))
        .route("/exp/lesson/{slug}", get(show_lesson))
        .route("/exp/image", get(list_images))
        .route("/exp/collection", get(list_collections))
        .route("/exp/curriculum", get(show_curriculum))
}

/// Every current lesson.
#[utoipa::path(get, path = "/exp/lesson", tag = "curriculum", operation_id = "listLessons", responses((status = 200, body = Lessons)))]
pub async fn list_lessons(State(state): State<AppState>) -> Result<AppJson<Lessons>, ApiError> {
    let lessons = curriculum::list_lessons(&state.pool).await?;
    Ok(AppJson(Lessons {
        lessons: lessons.into_iter().map(|stored| stored.lesson).collect(),
    }))
}

/// One current lesson.
#[utoipa::path(get, path = "/exp/lesson/{slug}", tag = "curriculum", operation_id = "showLesson",
    params(("slug" = String, Path, description = "lesson slug", pattern = "^[a-z-]{1,128}$",
        example = "linux-first-steps")),
    responses((status = 200, body = Object),
              (status = 404, description = "unknown_lesson", body = super::error::ErrorBody)))]
pub async fn show_lesson(
    State(state): State<AppState>,
    AppPath(slug): AppPath<String>,
) -> Result<AppJson<Lesson>, ApiError> {
    let unknown =
        || ApiError::not_found("unknown_lesson", format!("unknown lesson {}", Shown(&slug)));
    if !is_lesson_slug(&slug) {
        return Err(unknown());
    }
    curriculum::current_lesson(&state.pool, &slug)
        .await?
        .map(|stored| AppJson(stored.lesson))
        .ok_or_else(unknown)
}

/// Every image, without credentials.
#[utoipa::path(get, path = "/exp/image", tag = "curriculum", operation_id = "listImages", responses((status = 200, body = Images)))]
pub async fn list_images(State(state): State<AppState>) -> Result<AppJson<Images>, ApiError> {
    let images = curriculum::list_images(&state.pool).await?;
    Ok(AppJson(Images {
        images: images.into_iter().map(ImageView::from).collect(),
    }))
}

/// Every collection.
#[utoipa::path(get, path = "/exp/collection", tag = "curriculum", operation_id = "listCollections", responses((status = 200, body = Collections)))]
pub async fn list_collections(
    State(state): State<AppState>,
) -> Result<AppJson<Collections>, ApiError> {
    let collections = curriculum::list_collections(&state.pool).await?;
    Ok(AppJson(Collections { collections }))
}

/// The curriculum's metadata.
#[utoipa::path(get, path = "/exp/curriculum", tag = "curriculum", operation_id = "showCurriculum",
    responses((status = 200, body = Object),
              (status = 404, description = "no_curriculum", body = super::error::ErrorBody)))]
pub async fn show_curriculum(
    State(state): State<AppState>,
) -> Result<AppJson<CurriculumMeta>, ApiError> {
    curriculum::curriculum_meta(&state.pool)
        .await?
        .map(AppJson)
        .ok_or_else(|| ApiError::not_found("no_curriculum", "no curriculum imported yet"))
}
