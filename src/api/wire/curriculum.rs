//! The curriculum on the wire (`lesson.proto`, `collection.proto`, `curriculum.proto`,
//! `antidoteinfo.proto`).

use serde::Serialize;
use utoipa::ToSchema;

use super::is_zero;
use crate::curriculum::{self as model, CurriculumMeta};

/// `Lessons`: what `GET /exp/lesson` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Lessons {
    /// Every current lesson, by slug.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lessons: Vec<Lesson>,
}

/// `LessonPrereqs`: what `GET /exp/lesson/{slug}/prereqs` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LessonPrereqs {
    /// Every lesson to take first, the whole tree flattened and de-duplicated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prereqs: Vec<String>,
}

/// `Lesson`: a lesson definition (guides and configuration files left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Lesson {
    /// Identifier.
    #[serde(rename = "Slug", skip_serializing_if = "String::is_empty")]
    pub slug: String,
    /// Stages; the lab page reads `Stages[stage]`.
    #[serde(rename = "Stages", skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<LessonStage>,
    /// Display name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Endpoints.
    #[serde(rename = "Endpoints", skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// Links between endpoints.
    #[serde(rename = "Connections", skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    /// Authors.
    #[serde(rename = "Authors", skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<Author>,
    /// `fundamentals`, `tools` or `workflows`.
    #[serde(rename = "Category", skip_serializing_if = "String::is_empty")]
    pub category: String,
    /// Diagram URL.
    #[serde(rename = "Diagram", skip_serializing_if = "String::is_empty")]
    pub diagram: String,
    /// Video URL.
    #[serde(rename = "Video", skip_serializing_if = "String::is_empty")]
    pub video: String,
    /// `prod`, `ptr` or `local`.
    #[serde(rename = "Tier", skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// Prerequisites listed by this lesson only (see `/exp/lesson/{slug}/prereqs`).
    #[serde(rename = "Prereqs", skip_serializing_if = "Vec::is_empty")]
    pub prereqs: Vec<String>,
    /// Tags.
    #[serde(rename = "Tags", skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Collection slug.
    #[serde(rename = "Collection", skip_serializing_if = "String::is_empty")]
    pub collection: String,
    /// Long description.
    #[serde(rename = "Description", skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Short description.
    #[serde(rename = "ShortDescription", skip_serializing_if = "String::is_empty")]
    pub short_description: String,
    /// The original's absolute path of the lesson file on its host. Never filled here: it
    /// says nothing to a browser and tells an attacker about the server.
    #[serde(rename = "LessonFile", skip_serializing_if = "String::is_empty")]
    pub lesson_file: String,
    /// As `LessonFile`, the lesson's directory: never filled here.
    #[serde(rename = "LessonDir", skip_serializing_if = "String::is_empty")]
    pub lesson_dir: String,
    /// Seconds between configuration and READY.
    #[serde(rename = "ReadyDelay", skip_serializing_if = "is_zero")]
    pub ready_delay: i32,
}

/// `LessonStage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LessonStage {
    /// What the stage covers.
    #[serde(rename = "Description", skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `markdown` or `jupyter`.
    #[serde(rename = "GuideType", skip_serializing_if = "String::is_empty")]
    pub guide_type: String,
    /// Video URL.
    #[serde(rename = "StageVideo", skip_serializing_if = "String::is_empty")]
    pub stage_video: String,
}

/// `Endpoint` of a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Endpoint {
    /// Name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Image slug.
    #[serde(rename = "Image", skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// `napalm`, `python`, `ansible` or absent.
    #[serde(rename = "ConfigurationType", skip_serializing_if = "String::is_empty")]
    pub configuration_type: String,
    /// Ports opened besides the presentations'.
    #[serde(rename = "AdditionalPorts", skip_serializing_if = "Vec::is_empty")]
    pub additional_ports: Vec<i32>,
    /// Presentations.
    #[serde(rename = "Presentations", skip_serializing_if = "Vec::is_empty")]
    pub presentations: Vec<Presentation>,
    /// In the proto; a lesson has no host (livelesson endpoints do), so never filled.
    #[serde(rename = "Host", skip_serializing_if = "String::is_empty")]
    pub host: String,
}

/// `Presentation` of a lesson endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Presentation {
    /// Name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Port.
    #[serde(rename = "Port", skip_serializing_if = "is_zero")]
    pub port: i32,
    /// `ssh` or `http`.
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// `Connection` between two endpoints (the proto has no subnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Connection {
    /// One endpoint.
    #[serde(rename = "A", skip_serializing_if = "String::is_empty")]
    pub a: String,
    /// The other.
    #[serde(rename = "B", skip_serializing_if = "String::is_empty")]
    pub b: String,
}

/// `Author`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Author {
    /// Name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Profile or home page.
    #[serde(rename = "Link", skip_serializing_if = "String::is_empty")]
    pub link: String,
}

impl From<model::Lesson> for Lesson {
    fn from(lesson: model::Lesson) -> Self {
        Self {
            slug: lesson.slug,
            stages: lesson
                .stages
                .into_iter()
                .map(|stage| LessonStage {
                    description: stage.description,
                    guide_type: stage.guide_type.as_str().to_owned(),
                    stage_video: stage.stage_video.unwrap_or_default(),
                })
                .collect(),
            name: lesson.name,
            endpoints: lesson
                .endpoints
                .into_iter()
                .map(|endpoint| Endpoint {
                    name: endpoint.name,
                    image: endpoint.image,
                    configuration_type: endpoint
                        .configuration_type
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                    additional_ports: endpoint
                        .additional_ports
                        .into_iter()
                        .map(i32::from)
                        .collect(),
                    presentations: endpoint
                        .presentations
                        .into_iter()
                        .map(|p| Presentation {
                            name: p.name,
                            port: i32::from(p.port),
                            kind: p.kind.as_str().to_owned(),
                        })
                        .collect(),
                    host: String::new(),
                })
                .collect(),
            connections: lesson
                .connections
                .into_iter()
                .map(|c| Connection { a: c.a, b: c.b })
                .collect(),
            authors: lesson
                .authors
                .into_iter()
                .map(|a| Author {
                    name: a.name,
                    link: a.link,
                })
                .collect(),
            category: lesson.category.as_str().to_owned(),
            diagram: lesson.diagram.unwrap_or_default(),
            video: lesson.video.unwrap_or_default(),
            tier: lesson.tier.as_str().to_owned(),
            prereqs: lesson.prereqs,
            tags: lesson.tags,
            collection: lesson.collection.unwrap_or_default(),
            description: lesson.description,
            short_description: lesson.short_description,
            lesson_file: String::new(),
            lesson_dir: String::new(),
            // Validation bounds readyDelay to an hour.
            ready_delay: i32::try_from(lesson.ready_delay).unwrap_or(i32::MAX),
        }
    }
}

/// `Collections`: what `GET /exp/collection` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Collections {
    /// Every collection, by slug, without their lessons (as the original listed them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<Collection>,
}

/// `Collection`: a group of lessons from one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Collection {
    /// Identifier.
    #[serde(rename = "Slug", skip_serializing_if = "String::is_empty")]
    pub slug: String,
    /// Title.
    #[serde(rename = "Title", skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Logo URL.
    #[serde(rename = "Image", skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Home page.
    #[serde(rename = "Website", skip_serializing_if = "String::is_empty")]
    pub website: String,
    /// Contact address.
    #[serde(rename = "ContactEmail", skip_serializing_if = "String::is_empty")]
    pub contact_email: String,
    /// Why learners should look at it.
    #[serde(rename = "BriefDescription", skip_serializing_if = "String::is_empty")]
    pub brief_description: String,
    /// Why learners should take its lessons.
    #[serde(rename = "LongDescription", skip_serializing_if = "String::is_empty")]
    pub long_description: String,
    /// `vendor`, `community` or `consultancy`.
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Tier.
    #[serde(rename = "Tier", skip_serializing_if = "String::is_empty")]
    pub tier: String,
    /// The original's path of the collection file on its host: never filled here.
    #[serde(rename = "CollectionFile", skip_serializing_if = "String::is_empty")]
    pub collection_file: String,
    /// Its lessons, on `GET /exp/collection/{slug}` only; absent when it has none (the
    /// collection page then says so).
    #[serde(rename = "Lessons", skip_serializing_if = "Vec::is_empty")]
    pub lessons: Vec<LessonSummary>,
}

impl From<model::Collection> for Collection {
    fn from(collection: model::Collection) -> Self {
        Self {
            slug: collection.slug,
            title: collection.title,
            image: collection.image,
            website: collection.website,
            contact_email: collection.contact_email,
            brief_description: collection.brief_description,
            long_description: collection.long_description,
            kind: collection.kind.as_str().to_owned(),
            tier: collection.tier.as_str().to_owned(),
            collection_file: String::new(),
            lessons: Vec::new(),
        }
    }
}

/// `LessonSummary`: a lesson as a collection page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LessonSummary {
    /// Slug.
    #[serde(rename = "Slug", skip_serializing_if = "String::is_empty")]
    pub slug: String,
    /// Display name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Description.
    #[serde(rename = "Description", skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// `CurriculumInfo`: what `GET /exp/curriculum` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CurriculumInfo {
    /// Name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Description.
    #[serde(rename = "Description", skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Home page.
    #[serde(rename = "Website", skip_serializing_if = "String::is_empty")]
    pub website: String,
    /// Antidote version the curriculum targets.
    #[serde(rename = "AVer", skip_serializing_if = "String::is_empty")]
    pub a_ver: String,
    /// Repository URL (the lab page's "Edit Lesson on Github" link).
    #[serde(rename = "GitRoot", skip_serializing_if = "String::is_empty")]
    pub git_root: String,
}

impl From<CurriculumMeta> for CurriculumInfo {
    fn from(meta: CurriculumMeta) -> Self {
        Self {
            name: meta.name,
            description: meta.description,
            website: meta.website,
            a_ver: meta.a_ver,
            git_root: meta.git_root,
        }
    }
}

/// `AntidoteInfo`: what `GET /exp/antidoteinfo` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AntidoteInfo {
    /// Git commit of this build, when the build recorded it.
    #[serde(rename = "buildSha", skip_serializing_if = "String::is_empty")]
    pub build_sha: String,
    /// Version of this build.
    #[serde(rename = "buildVersion", skip_serializing_if = "String::is_empty")]
    pub build_version: String,
    /// Tag of the curriculum's endpoint images (`backend.curriculumVersion`).
    #[serde(rename = "curriculumVersion", skip_serializing_if = "String::is_empty")]
    pub curriculum_version: String,
}
