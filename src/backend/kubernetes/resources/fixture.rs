//! Test fixtures: the example curriculum as livelessons.

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::{Livelesson, Settings};
use crate::curriculum::{Curriculum, Image, Lesson, Options, load};
use crate::ids::{LivelessonId, SessionId};

/// Livelesson id used by every fixture.
pub const LL_ID: &str = "abcde12345";
/// Livesession id used by every fixture.
pub const SESSION_ID: &str = "sess0001";

/// A loaded curriculum plus settings, lending out livelessons.
pub struct Fixture {
    pub settings: Settings,
    pub curriculum: Curriculum,
    images: BTreeMap<String, BTreeMap<String, Image>>,
    livelesson_id: LivelessonId,
    session_id: SessionId,
}

impl Fixture {
    /// The example curriculum with default settings.
    pub fn example() -> Self {
        Self::for_instance(&Settings::default().instance_id)
    }

    /// The example curriculum as validated for `instance_id`: only the lessons whose names
    /// fit this instance's namespaces are loaded.
    pub fn for_instance(instance_id: &str) -> Self {
        let options = Options {
            instance_id: instance_id.to_owned(),
            ..Options::default()
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum");
        let loaded = load(&dir, &options);
        let curriculum = loaded.curriculum.expect("example curriculum loads");
        let images = curriculum
            .lessons
            .iter()
            .map(|lesson| (lesson.slug.clone(), images_of(&curriculum, lesson)))
            .collect();
        let settings = Settings {
            instance_id: instance_id.to_owned(),
            ..Settings::default()
        };
        Self {
            settings,
            curriculum,
            images,
            livelesson_id: LivelessonId::from(LL_ID),
            session_id: SessionId::from(SESSION_ID),
        }
    }

    /// A livelesson of the lesson `slug`.
    pub fn livelesson(&self, slug: &str) -> Livelesson<'_> {
        let lesson = self.curriculum.lesson(slug).expect("lesson exists");
        Livelesson {
            id: &self.livelesson_id,
            session_id: &self.session_id,
            lesson,
            images: &self.images[slug],
        }
    }
}

/// The image definitions a lesson's endpoints use, as a livelesson copies them.
pub fn images_of(curriculum: &Curriculum, lesson: &Lesson) -> BTreeMap<String, Image> {
    curriculum.images_of(lesson)
}
