//! The curriculum endpoints: they list what was imported, and images never show
//! passwords.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test]
async fn curriculum_endpoints_list_what_was_imported(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lessons = app.get("/exp/lesson").await;
    assert_eq!(lessons.status, StatusCode::OK);
    assert_eq!(lessons.body["lessons"].as_array().map(Vec::len), Some(4));
    let lesson = app.get("/exp/lesson/router-configuration").await;
    assert_eq!(lesson.status, StatusCode::OK);
    assert_eq!(lesson.body["Slug"], "router-configuration");
    let missing = app.get("/exp/lesson/no-such-lesson").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.grpc(), 5);
    let collections = app.get("/exp/collection").await;
    assert_eq!(collections.status, StatusCode::OK);
    assert!(collections.body["collections"].is_array());
    let curriculum = app.get("/exp/curriculum").await;
    assert_eq!(curriculum.status, StatusCode::OK);
    assert!(curriculum.body["Name"].is_string());
}

#[sqlx::test]
async fn images_never_show_passwords(pool: PgPool) {
    let app = spawn_app(pool).await;
    let images = app.get("/exp/image").await;
    assert_eq!(images.status, StatusCode::OK);
    assert_eq!(images.body["images"].as_array().map(Vec::len), Some(4));
    let text = images.text.to_lowercase();
    assert!(!text.contains("password"), "{}", images.text);
    assert!(!text.contains("configuser"), "{}", images.text);
}
