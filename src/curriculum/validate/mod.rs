//! The validation rules: turn one raw definition into a typed one, reporting every problem.
//!
//! A converter returns `None` when the definition has any error, so only clean definitions
//! reach the [`Curriculum`](super::Curriculum). One file per kind of definition
//! (`meta`, `collection`, `image`, `lesson`, and a lesson's `stages`,
//! `endpoint`s and `connections`); `fields` holds the checks they share and
//! `context` what a lesson may refer to.

mod collection;
mod connections;
mod context;
mod endpoint;
mod fields;
mod image;
mod lesson;
mod meta;
mod stages;

pub(crate) use collection::collection;
pub(crate) use context::{Known, LessonContext};
pub use endpoint::napalm_driver;
pub(crate) use image::image;
pub use lesson::MAX_READY_DELAY_SECS;
pub(crate) use lesson::{lesson, raw_tier};
pub(crate) use meta::meta;
