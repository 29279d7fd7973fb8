//! Where livelessons run: the [`Backend`] contract the workflows call step by step, and
//! its Kubernetes implementation.
//!
//! # Layout
//!
//! - [`settings`]: every knob of the backend, with the original's defaults.
//! - [`kubernetes`]: resource builders (pure) and the kube-rs implementation.

pub mod kubernetes;
pub mod settings;

use std::collections::BTreeMap;

use crate::curriculum::{Image, Lesson};

pub use settings::Settings;

/// Everything needed to build a livelesson's objects: the pinned lesson, the image
/// definitions copied at creation, and the ids.
#[derive(Debug, Clone, Copy)]
pub struct Livelesson<'a> {
    /// The livelesson id (`[a-z0-9]{10}`).
    pub id: &'a str,
    /// The livesession it belongs to.
    pub session_id: &'a str,
    /// The pinned lesson version, files included.
    pub lesson: &'a Lesson,
    /// Image definitions by slug (every image the lesson's endpoints use).
    pub images: &'a BTreeMap<String, Image>,
}
