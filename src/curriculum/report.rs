//! The validation report: every problem found in one run, and what was loaded or skipped.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::model::Tier;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The definition is unusable; the command exits non-zero and nothing is imported.
    Error,
    /// Suspicious but usable (an unknown key); an error under `--strict`.
    Warning,
}

/// One problem, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Path relative to the curriculum directory (`<options>` for command-line settings).
    pub file: String,
    /// 1-based line, for YAML syntax and type errors.
    pub line: Option<usize>,
    /// 1-based column, with `line`.
    pub column: Option<usize>,
    /// Field path such as `endpoints[2].presentations[0].port`; empty for the whole file.
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// A valid value, when one helps.
    pub example: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(example) = &self.example {
            write!(f, " (e.g. {example})")?;
        }
        if self.severity == Severity::Warning {
            f.write_str(" [warning]")?;
        }
        Ok(())
    }
}

/// A definition left out because its tier is below the configured one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// `lesson` or `collection`.
    pub kind: &'static str,
    /// Its slug.
    pub slug: String,
    /// Its file.
    pub file: String,
    /// Its tier.
    pub tier: Tier,
}

/// Everything one validation run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Problems in file order (errors and warnings mixed).
    pub problems: Vec<Problem>,
    /// Lesson files found.
    pub lessons: usize,
    /// Image files found.
    pub images: usize,
    /// Collection files found.
    pub collections: usize,
    /// Lessons and collections left out by the tier filter (not a problem).
    pub skipped: Vec<Skipped>,
    /// Image slugs that lessons at or above the tier use but no `image.meta.yaml` defines.
    pub missing_images: BTreeSet<String>,
}

impl Report {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    /// Whether anything makes the curriculum unusable.
    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// The one-line summary printed after the problems.
    pub fn summary(&self) -> String {
        format!(
            "{} lessons, {} images, {} collections: {} errors, {} warnings, {} skipped by tier",
            self.lessons,
            self.images,
            self.collections,
            self.errors(),
            self.warnings(),
            self.skipped.len()
        )
    }

    fn count(&self, severity: Severity) -> usize {
        self.problems
            .iter()
            .filter(|problem| problem.severity == severity)
            .count()
    }
}

/// Collects problems for one file, so rules only name the field.
pub(crate) struct FileProblems<'a> {
    file: String,
    problems: &'a mut Vec<Problem>,
    found: usize,
}

impl<'a> FileProblems<'a> {
    pub(crate) fn new(file: impl Into<String>, problems: &'a mut Vec<Problem>) -> Self {
        Self {
            file: file.into(),
            problems,
            found: 0,
        }
    }

    /// Errors recorded through this collector so far.
    pub(crate) fn errors(&self) -> usize {
        self.found
    }

    pub(crate) fn error(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.push(Severity::Error, field.into(), reason.into(), None);
    }

    pub(crate) fn error_eg(
        &mut self,
        field: impl Into<String>,
        reason: impl Into<String>,
        example: impl Into<String>,
    ) {
        self.push(
            Severity::Error,
            field.into(),
            reason.into(),
            Some(example.into()),
        );
    }

    pub(crate) fn warning(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.push(Severity::Warning, field.into(), reason.into(), None);
    }

    pub(crate) fn at(&mut self, line: usize, column: usize, field: String, reason: String) {
        self.found += 1;
        self.problems.push(Problem {
            severity: Severity::Error,
            file: self.file.clone(),
            line: Some(line),
            column: Some(column),
            field,
            reason,
            example: None,
        });
    }

    fn push(&mut self, severity: Severity, field: String, reason: String, example: Option<String>) {
        if severity == Severity::Error {
            self.found += 1;
        }
        self.problems.push(Problem {
            severity,
            file: self.file.clone(),
            line: None,
            column: None,
            field,
            reason,
            example,
        });
    }
}
