//! SQL for the imported curriculum: immutable lesson versions, current lessons, images,
//! collections and the curriculum's metadata.
//!
//! [`import`] is the only writer. It runs in one transaction and writes only what changed,
//! so importing the same directory twice changes nothing (no new versions, no timestamps).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::curriculum::{
    Collection, ContentHash, Curriculum, CurriculumMeta, Image, Lesson, content_hash,
};

use super::{Result, StoreError, db, to_json};

/// What an [`import`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Lessons not in the database before.
    pub lessons_added: u64,
    /// Lessons whose current version changed (a new or an older version).
    pub lessons_changed: u64,
    /// Lessons already at this version.
    pub lessons_unchanged: u64,
    /// Lessons no longer in the curriculum (their versions are kept).
    pub lessons_removed: u64,
    /// Images added or changed.
    pub images_written: u64,
    /// Images identical to the stored ones.
    pub images_unchanged: u64,
    /// Images no longer in the curriculum.
    pub images_removed: u64,
    /// Collections added or changed.
    pub collections_written: u64,
    /// Collections identical to the stored ones.
    pub collections_unchanged: u64,
    /// Collections no longer in the curriculum.
    pub collections_removed: u64,
    /// Whether `curriculum.meta.yaml` changed.
    pub meta_changed: bool,
}

impl ImportSummary {
    /// Whether the import changed nothing at all.
    pub fn is_noop(&self) -> bool {
        self.lessons_added
            + self.lessons_changed
            + self.lessons_removed
            + self.images_written
            + self.images_removed
            + self.collections_written
            + self.collections_removed
            == 0
            && !self.meta_changed
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lessons {} added, {} changed, {} unchanged, {} removed; \
             images {} written, {} unchanged, {} removed; \
             collections {} written, {} unchanged, {} removed; metadata {}",
            self.lessons_added,
            self.lessons_changed,
            self.lessons_unchanged,
            self.lessons_removed,
            self.images_written,
            self.images_unchanged,
            self.images_removed,
            self.collections_written,
            self.collections_unchanged,
            self.collections_removed,
            if self.meta_changed {
                "changed"
            } else {
                "unchanged"
            },
        )
    }
}

/// A lesson version as stored: its hash and its full definition, files included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLesson {
    /// The version's content hash (what a livelesson pins).
    pub content_hash: ContentHash,
    /// The definition with its guides and configuration files.
    pub lesson: Lesson,
}

/// Stores a validated curriculum in one transaction: new lesson versions are added, each
/// lesson points at its current version, and lessons, images and collections no longer in
/// the curriculum are removed (lesson versions never are).
///
/// # Errors
/// [`StoreError`] when a statement fails; nothing is then written.
pub async fn import(pool: &PgPool, curriculum: &Curriculum) -> Result<ImportSummary> {
    let mut tx = pool.begin().await.map_err(db("starting the import"))?;
    let summary = import_using(&mut tx, curriculum).await?;
    tx.commit().await.map_err(db("committing the import"))?;
    Ok(summary)
}

/// [`import`] inside a transaction the caller owns.
///
/// # Errors
/// As [`import`]; the caller should roll back.
pub async fn import_using(
    conn: &mut PgConnection,
    curriculum: &Curriculum,
) -> Result<ImportSummary> {
    lock_for_import(&mut *conn).await?;
    let mut summary = ImportSummary {
        meta_changed: upsert_meta(&mut *conn, &curriculum.meta).await?,
        ..ImportSummary::default()
    };

    for collection in &curriculum.collections {
        if upsert_collection(&mut *conn, collection).await? {
            summary.collections_written += 1;
        } else {
            summary.collections_unchanged += 1;
        }
    }
    let slugs: Vec<String> = curriculum
        .collections
        .iter()
        .map(|c| c.slug.clone())
        .collect();
    summary.collections_removed = delete_collections_except(&mut *conn, &slugs).await?;

    for image in &curriculum.images {
        if upsert_image(&mut *conn, image).await? {
            summary.images_written += 1;
        } else {
            summary.images_unchanged += 1;
        }
    }
    let slugs: Vec<String> = curriculum.images.iter().map(|i| i.slug.clone()).collect();
    summary.images_removed = delete_images_except(&mut *conn, &slugs).await?;

    for lesson in &curriculum.lessons {
        let hash = content_hash(lesson).map_err(|source| StoreError::Serialize {
            what: format!("lesson {}", lesson.slug),
            source,
        })?;
        insert_lesson_version(&mut *conn, lesson, &hash).await?;
        match current_hash(&mut *conn, &lesson.slug).await? {
            None => summary.lessons_added += 1,
            Some(current) if current == hash => summary.lessons_unchanged += 1,
            Some(_) => summary.lessons_changed += 1,
        }
        set_current_version(&mut *conn, &lesson.slug, &hash).await?;
    }
    let slugs: Vec<String> = curriculum.lessons.iter().map(|l| l.slug.clone()).collect();
    summary.lessons_removed = delete_lessons_except(&mut *conn, &slugs).await?;
    Ok(summary)
}

/// Serializes concurrent imports (readers are not blocked).
async fn lock_for_import(conn: &mut PgConnection) -> Result<()> {
    sqlx::query!(
        r#"lock table curriculum_meta, curriculum_collections, curriculum_images,
           curriculum_lessons in share row exclusive mode"#
    )
    .execute(conn)
    .await
    .map_err(db("locking the curriculum tables"))?;
    Ok(())
}

/// Writes the metadata; returns whether it changed.
async fn upsert_meta(executor: impl PgExecutor<'_>, meta: &CurriculumMeta) -> Result<bool> {
    let definition = to_json("curriculum metadata", meta)?;
    let result = sqlx::query!(
        r#"insert into curriculum_meta (id, definition) values (true, $1)
           on conflict (id) do update set definition = excluded.definition, updated_at = now()
           where curriculum_meta.definition is distinct from excluded.definition"#,
        definition
    )
    .execute(executor)
    .await
    .map_err(db("writing the curriculum metadata"))?;
    Ok(result.rows_affected() > 0)
}

/// Writes a collection; returns whether it was added or changed.
async fn upsert_collection(executor: impl PgExecutor<'_>, collection: &Collection) -> Result<bool> {
    let definition = to_json(&format!("collection {}", collection.slug), collection)?;
    let result = sqlx::query!(
        r#"insert into curriculum_collections (slug, definition) values ($1, $2)
           on conflict (slug) do update set definition = excluded.definition, updated_at = now()
           where curriculum_collections.definition is distinct from excluded.definition"#,
        collection.slug,
        definition
    )
    .execute(executor)
    .await
    .map_err(db("writing a collection"))?;
    Ok(result.rows_affected() > 0)
}

async fn delete_collections_except(executor: impl PgExecutor<'_>, keep: &[String]) -> Result<u64> {
    let result = sqlx::query!(
        r#"delete from curriculum_collections where slug <> all($1)"#,
        keep
    )
    .execute(executor)
    .await
    .map_err(db("removing old collections"))?;
    Ok(result.rows_affected())
}

/// Writes an image; returns whether it was added or changed.
async fn upsert_image(executor: impl PgExecutor<'_>, image: &Image) -> Result<bool> {
    let definition = to_json(&format!("image {}", image.slug), image)?;
    let result = sqlx::query!(
        r#"insert into curriculum_images (slug, definition) values ($1, $2)
           on conflict (slug) do update set definition = excluded.definition, updated_at = now()
           where curriculum_images.definition is distinct from excluded.definition"#,
        image.slug,
        definition
    )
    .execute(executor)
    .await
    .map_err(db("writing an image"))?;
    Ok(result.rows_affected() > 0)
}

async fn delete_images_except(executor: impl PgExecutor<'_>, keep: &[String]) -> Result<u64> {
    let result = sqlx::query!(
        r#"delete from curriculum_images where slug <> all($1)"#,
        keep
    )
    .execute(executor)
    .await
    .map_err(db("removing old images"))?;
    Ok(result.rows_affected())
}

/// Adds a lesson version unless it exists (versions are immutable); returns whether it was new.
async fn insert_lesson_version(
    executor: impl PgExecutor<'_>,
    lesson: &Lesson,
    hash: &ContentHash,
) -> Result<bool> {
    let definition = to_json(&format!("lesson {}", lesson.slug), lesson)?;
    let files = to_json(&format!("files of lesson {}", lesson.slug), &lesson.files)?;
    let result = sqlx::query!(
        r#"insert into curriculum_lesson_versions (slug, content_hash, definition, files)
           values ($1, $2, $3, $4)
           on conflict (slug, content_hash) do nothing"#,
        lesson.slug,
        hash.as_str(),
        definition,
        files
    )
    .execute(executor)
    .await
    .map_err(db("adding a lesson version"))?;
    Ok(result.rows_affected() > 0)
}

async fn current_hash(executor: impl PgExecutor<'_>, slug: &str) -> Result<Option<ContentHash>> {
    let hash = sqlx::query_scalar!(
        r#"select current_hash from curriculum_lessons where slug = $1"#,
        slug
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a lesson's current version"))?;
    Ok(hash.map(ContentHash::from_hex))
}

/// Points `slug` at version `hash`; touches nothing when it already does.
async fn set_current_version(
    executor: impl PgExecutor<'_>,
    slug: &str,
    hash: &ContentHash,
) -> Result<bool> {
    let result = sqlx::query!(
        r#"insert into curriculum_lessons (slug, current_hash) values ($1, $2)
           on conflict (slug) do update set current_hash = excluded.current_hash, updated_at = now()
           where curriculum_lessons.current_hash <> excluded.current_hash"#,
        slug,
        hash.as_str()
    )
    .execute(executor)
    .await
    .map_err(db("setting a lesson's current version"))?;
    Ok(result.rows_affected() > 0)
}

async fn delete_lessons_except(executor: impl PgExecutor<'_>, keep: &[String]) -> Result<u64> {
    let result = sqlx::query!(
        r#"delete from curriculum_lessons where slug <> all($1)"#,
        keep
    )
    .execute(executor)
    .await
    .map_err(db("removing old lessons"))?;
    Ok(result.rows_affected())
}

fn stored(hash: String, definition: Lesson, files: BTreeMap<String, String>) -> StoredLesson {
    let mut lesson = definition;
    lesson.files = files;
    StoredLesson {
        content_hash: ContentHash::from_hex(hash),
        lesson,
    }
}

/// The current version of lesson `slug`, if the curriculum has it.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn current_lesson(
    executor: impl PgExecutor<'_>,
    slug: &str,
) -> Result<Option<StoredLesson>> {
    let row = sqlx::query!(
        r#"select v.content_hash, v.definition as "definition: Json<Lesson>",
                  v.files as "files: Json<BTreeMap<String, String>>"
           from curriculum_lessons l
           join curriculum_lesson_versions v on v.slug = l.slug and v.content_hash = l.current_hash
           where l.slug = $1"#,
        slug
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a current lesson"))?;
    Ok(row.map(|row| stored(row.content_hash, row.definition.0, row.files.0)))
}

/// A pinned lesson version, whether or not it is still current.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn lesson_version(
    executor: impl PgExecutor<'_>,
    slug: &str,
    hash: &ContentHash,
) -> Result<Option<Lesson>> {
    let row = sqlx::query!(
        r#"select definition as "definition: Json<Lesson>",
                  files as "files: Json<BTreeMap<String, String>>"
           from curriculum_lesson_versions
           where slug = $1 and content_hash = $2"#,
        slug,
        hash.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a lesson version"))?;
    Ok(row.map(|row| {
        let mut lesson = row.definition.0;
        lesson.files = row.files.0;
        lesson
    }))
}

/// Every current lesson, by slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn list_lessons(executor: impl PgExecutor<'_>) -> Result<Vec<StoredLesson>> {
    let rows = sqlx::query!(
        r#"select v.content_hash, v.definition as "definition: Json<Lesson>",
                  v.files as "files: Json<BTreeMap<String, String>>"
           from curriculum_lessons l
           join curriculum_lesson_versions v on v.slug = l.slug and v.content_hash = l.current_hash
           order by l.slug"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("listing lessons"))?;
    Ok(rows
        .into_iter()
        .map(|row| stored(row.content_hash, row.definition.0, row.files.0))
        .collect())
}

/// The image with this slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn image(executor: impl PgExecutor<'_>, slug: &str) -> Result<Option<Image>> {
    let image = sqlx::query_scalar!(
        r#"select definition as "definition: Json<Image>" from curriculum_images where slug = $1"#,
        slug
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading an image"))?;
    Ok(image.map(|image| image.0))
}

/// Every image, by slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn list_images(executor: impl PgExecutor<'_>) -> Result<Vec<Image>> {
    let images = sqlx::query_scalar!(
        r#"select definition as "definition: Json<Image>" from curriculum_images order by slug"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("listing images"))?;
    Ok(images.into_iter().map(|image| image.0).collect())
}

/// Every collection, by slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn list_collections(executor: impl PgExecutor<'_>) -> Result<Vec<Collection>> {
    let collections = sqlx::query_scalar!(
        r#"select definition as "definition: Json<Collection>" from curriculum_collections
           order by slug"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("listing collections"))?;
    Ok(collections.into_iter().map(|c| c.0).collect())
}

/// The curriculum's metadata, once a curriculum was imported.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn curriculum_meta(executor: impl PgExecutor<'_>) -> Result<Option<CurriculumMeta>> {
    let meta = sqlx::query_scalar!(
        r#"select definition as "definition: Json<CurriculumMeta>" from curriculum_meta"#
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading the curriculum metadata"))?;
    Ok(meta.map(|meta| meta.0))
}

/// The collection with this slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn collection(executor: impl PgExecutor<'_>, slug: &str) -> Result<Option<Collection>> {
    let collection = sqlx::query_scalar!(
        r#"select definition as "definition: Json<Collection>" from curriculum_collections
           where slug = $1"#,
        slug
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a collection"))?;
    Ok(collection.map(|c| c.0))
}

/// A current lesson as a collection lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonSummary {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// The current lessons of collection `slug`, by lesson slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn lessons_of_collection(
    executor: impl PgExecutor<'_>,
    slug: &str,
) -> Result<Vec<LessonSummary>> {
    let rows = sqlx::query!(
        r#"select l.slug, v.definition ->> 'name' as "name!", v.definition ->> 'description' as "description!"
           from curriculum_lessons l
           join curriculum_lesson_versions v on v.slug = l.slug and v.content_hash = l.current_hash
           where v.definition ->> 'collection' = $1
           order by l.slug"#,
        slug
    )
    .fetch_all(executor)
    .await
    .map_err(db("listing a collection's lessons"))?;
    Ok(rows
        .into_iter()
        .map(|row| LessonSummary {
            slug: row.slug,
            name: row.name,
            description: row.description,
        })
        .collect())
}

/// Each current lesson's own prerequisites, by lesson slug.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn lesson_prereqs(
    executor: impl PgExecutor<'_>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let rows = sqlx::query!(
        r#"select l.slug, v.definition -> 'prereqs' as "prereqs!: Json<Vec<String>>"
           from curriculum_lessons l
           join curriculum_lesson_versions v on v.slug = l.slug and v.content_hash = l.current_hash"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("reading lesson prerequisites"))?;
    Ok(rows
        .into_iter()
        .map(|row| (row.slug, row.prereqs.0))
        .collect())
}
