//! Curriculum storage: imports are idempotent, and lesson versions are immutable.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "fixtures/curriculum/support.rs"]
mod support;

use antidote_scheduler::curriculum::{Curriculum, content_hash};
use antidote_scheduler::store::curriculum as store;
use sqlx::PgPool;
use support::Fixture;

fn valid(fixture: &Fixture) -> Curriculum {
    let loaded = fixture.load();
    assert_eq!(support::errors(&loaded), vec![]);
    loaded.valid().expect("valid").clone()
}

/// Every row of every curriculum table with its timestamps, as text, to compare snapshots.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "select 'meta ' || definition::text || updated_at::text from curriculum_meta
         union all select 'collection ' || slug || definition::text || updated_at::text from curriculum_collections
         union all select 'image ' || slug || definition::text || updated_at::text from curriculum_images
         union all select 'version ' || slug || content_hash || created_at::text from curriculum_lesson_versions
         union all select 'lesson ' || slug || current_hash || updated_at::text from curriculum_lessons
         order by 1",
    )
    .fetch_all(pool)
    .await
    .expect("snapshot");
    rows.into_iter().map(|(row,)| row).collect()
}

#[sqlx::test]
async fn importing_twice_changes_nothing_the_second_time(pool: PgPool) {
    let curriculum = valid(&Fixture::example());
    let first = store::import(&pool, &curriculum).await.expect("import");
    assert_eq!(first.lessons_added, 4);
    assert_eq!(first.images_written, 4);
    assert_eq!(first.collections_written, 1);
    assert!(first.meta_changed);
    let before = snapshot(&pool).await;

    let second = store::import(&pool, &curriculum).await.expect("import");
    assert!(second.is_noop(), "{second}");
    assert_eq!(second.lessons_unchanged, 4);
    assert_eq!(second.images_unchanged, 4);
    assert_eq!(snapshot(&pool).await, before);
}

#[sqlx::test]
async fn stored_definitions_read_back_whole(pool: PgPool) {
    let curriculum = valid(&Fixture::example());
    store::import(&pool, &curriculum).await.expect("import");

    let lesson = curriculum.lesson("router-configuration").expect("lesson");
    let stored = store::current_lesson(&pool, "router-configuration")
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(&stored.lesson, lesson);
    assert_eq!(stored.content_hash, content_hash(lesson).expect("hash"));
    assert!(stored.lesson.guide(1).is_some());

    let image = store::image(&pool, "vqfx")
        .await
        .expect("query")
        .expect("image");
    assert_eq!(Some(&image), curriculum.image("vqfx"));
    assert_eq!(image.config_password.expose(), "rootpassword");
    assert_eq!(store::list_images(&pool).await.expect("images").len(), 4);
    assert_eq!(store::list_lessons(&pool).await.expect("lessons").len(), 4);
    assert_eq!(
        store::list_collections(&pool).await.expect("collections"),
        curriculum.collections
    );
    assert_eq!(
        store::curriculum_meta(&pool).await.expect("meta"),
        Some(curriculum.meta.clone())
    );
    assert!(
        store::current_lesson(&pool, "nosuch")
            .await
            .expect("query")
            .is_none()
    );
}

#[sqlx::test]
async fn changed_lesson_gets_a_new_version_and_the_old_one_stays_readable(pool: PgPool) {
    let fixture = Fixture::example();
    store::import(&pool, &valid(&fixture))
        .await
        .expect("import");
    let old = store::current_lesson(&pool, "router-configuration")
        .await
        .expect("query")
        .expect("stored");

    // A change in a configuration file alone is a new version.
    fixture.edit(
        "lessons/router-configuration/stage1/configs/vqfx-2-junos.txt",
        "198.51.100.0/24",
        "203.0.113.0/24",
    );
    let summary = store::import(&pool, &valid(&fixture))
        .await
        .expect("import");
    assert_eq!(summary.lessons_changed, 1);
    assert_eq!(summary.lessons_unchanged, 3);
    assert_eq!(summary.lessons_added, 0);

    let new = store::current_lesson(&pool, "router-configuration")
        .await
        .expect("query")
        .expect("stored");
    assert_ne!(new.content_hash, old.content_hash);
    let endpoint = new.lesson.endpoint("vqfx-2").expect("endpoint");
    assert!(
        new.lesson
            .configuration_text(endpoint, 1)
            .expect("config")
            .contains("203.0.113.0/24")
    );

    // A livelesson pinned to the old hash still reads the old files.
    let pinned = store::lesson_version(&pool, "router-configuration", &old.content_hash)
        .await
        .expect("query")
        .expect("old version");
    assert_eq!(pinned, old.lesson);
    let endpoint = pinned.endpoint("vqfx-2").expect("endpoint");
    assert!(
        pinned
            .configuration_text(endpoint, 1)
            .expect("config")
            .contains("198.51.100.0/24")
    );
}

#[sqlx::test]
async fn lesson_removed_from_the_curriculum_keeps_its_versions(pool: PgPool) {
    let fixture = Fixture::example();
    store::import(&pool, &valid(&fixture))
        .await
        .expect("import");
    let old = store::current_lesson(&pool, "notebook-automation")
        .await
        .expect("query")
        .expect("stored");

    std::fs::remove_dir_all(fixture.path().join("lessons/notebook-automation")).expect("rm");
    let summary = store::import(&pool, &valid(&fixture))
        .await
        .expect("import");
    assert_eq!(summary.lessons_removed, 1);
    assert!(
        store::current_lesson(&pool, "notebook-automation")
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        store::lesson_version(&pool, "notebook-automation", &old.content_hash)
            .await
            .expect("query")
            .is_some()
    );
}
