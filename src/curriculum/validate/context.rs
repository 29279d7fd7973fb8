//! What a lesson can refer to, known before lessons are validated: the images and
//! collections and whether each was loaded.

use std::collections::BTreeMap;

use crate::curriculum::model::Tier;

/// What a lesson can refer to, known before lessons are validated.
pub(crate) struct LessonContext<'a> {
    pub instance_id: &'a str,
    /// Image slug → whether its definition is valid.
    pub images: &'a BTreeMap<String, Known>,
    /// Collection slug → its state.
    pub collections: &'a BTreeMap<String, Known>,
    /// The budget sizes a lesson may name.
    pub budget_sizes: &'a [String],
}

/// The state of a definition another one refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// Loaded.
    Valid,
    /// Defined in this file, with errors.
    Invalid(String),
    /// Left out by the tier filter.
    BelowTier(Tier),
}
