//! Resource budgets: how much CPU and memory one livelesson's namespace may use, and how
//! that is shared among its pods.
//!
//! A lesson's budget is a named size: the built-in ones follow Educates's names (`small`
//! 1 CPU / 1 Gi up to `xxx-large` 8 CPU / 16 Gi); operators add or redefine sizes under
//! `backend.budgets.sizes`. The size is chosen, first match wins, by
//! `backend.budgets.lessons.<slug>` (the operator), the lesson's `budget` field (its
//! author), then `backend.budgets.defaultSize`.
//!
//! **The rule** ([`Plan`]): the budget is split equally over the pods the lesson runs at
//! once: one per endpoint, the jupyter guide's when a stage uses it, and one configuration
//! pod per configurable endpoint (they run in parallel beside the endpoints). Each pod's
//! containers get that share as requests and limits (CPU rounded down to a millicore,
//! memory to a MiB), but never less than `backend.budgets.podMinimum`: a lesson whose pods
//! need more than its budget at that minimum does not fit, and the API server's quota
//! admission refuses its first endpoint pod over the line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::curriculum::{BUDGET_SIZES, Lesson};

pub use super::quantity::{Cpu, MIB, Memory, QuantityError};

/// Name of the ResourceQuota (and the LimitRange) in every livelesson namespace.
pub const QUOTA_NAME: &str = "budget";

/// The figures of the built-in sizes, [`BUDGET_SIZES`] in the same order (Educates's):
/// millicores and GiB.
pub const BUILT_IN: [(u64, u64); BUDGET_SIZES.len()] = [
    (1000, 1),
    (2000, 2),
    (4000, 4),
    (8000, 8),
    (8000, 12),
    (8000, 16),
];

/// CPU and memory together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// CPU (`2`, `500m`).
    pub cpu: Cpu,
    /// Memory (`2Gi`, `512Mi`).
    pub memory: Memory,
}

impl Size {
    /// `cpu` millicores and `memory` bytes.
    pub const fn new(cpu: u64, memory: u64) -> Self {
        Self {
            cpu: Cpu(cpu),
            memory: Memory(memory),
        }
    }

    /// This size `n` times.
    pub fn times(self, n: u64) -> Self {
        Self::new(
            self.cpu.0.saturating_mul(n),
            self.memory.0.saturating_mul(n),
        )
    }

    /// Whether both parts fit within `limit`.
    pub fn fits(self, limit: Self) -> bool {
        self.cpu <= limit.cpu && self.memory <= limit.memory
    }
}

/// `backend.budgets`: the sizes, the default, per-lesson choices and the per-pod minimum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Budgets {
    /// The size of lessons that name none (and that `lessons` does not name). Default
    /// `medium`.
    pub default_size: String,
    /// Operator-defined sizes by name, beside the built-in ones (a built-in name here
    /// redefines it).
    pub sizes: BTreeMap<String, Size>,
    /// Lesson slug to size name: the operator's choice, which wins over the lesson's own.
    pub lessons: BTreeMap<String, String>,
    /// The least any pod is given. Default 100m CPU, 128 Mi.
    pub pod_minimum: Size,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            default_size: "medium".to_owned(),
            sizes: BTreeMap::new(),
            lessons: BTreeMap::new(),
            pod_minimum: Size::new(100, 128 * MIB),
        }
    }
}

/// Why a lesson has no usable budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lesson `{lesson}` asks for budget size `{size}` ({by}), which is not defined; sizes: {}", allowed.join(", "))]
pub struct UnknownSize {
    /// Lesson slug.
    pub lesson: String,
    /// The size asked for.
    pub size: String,
    /// Who asked: the lesson, the configuration or the default.
    pub by: &'static str,
    /// The sizes defined.
    pub allowed: Vec<String>,
}

impl Budgets {
    /// Every size name: the built-in ones in increasing order, then the operator's.
    pub fn size_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUDGET_SIZES.iter().map(|n| (*n).to_owned()).collect();
        for name in self.sizes.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The size called `name`.
    pub fn size(&self, name: &str) -> Option<Size> {
        self.sizes.get(name).copied().or_else(|| {
            let built_in = BUDGET_SIZES.iter().position(|n| *n == name)?;
            let (cpu, gib) = BUILT_IN[built_in];
            Some(Size::new(cpu, gib << 30))
        })
    }

    /// The size `lesson` gets and its name: the configuration's choice, the lesson's, or
    /// the default.
    ///
    /// # Errors
    /// [`UnknownSize`] when the chosen name is not defined.
    pub fn choose(&self, lesson: &Lesson) -> Result<(String, Size), UnknownSize> {
        let (name, by) = if let Some(name) = self.lessons.get(&lesson.slug) {
            (name, "backend.budgets.lessons")
        } else if let Some(name) = &lesson.budget {
            (name, "the lesson's budget field")
        } else {
            (&self.default_size, "backend.budgets.defaultSize")
        };
        self.size(name)
            .map(|size| (name.clone(), size))
            .ok_or_else(|| UnknownSize {
                lesson: lesson.slug.clone(),
                size: name.clone(),
                by,
                allowed: self.size_names(),
            })
    }

    /// Checks the settings: the default and every per-lesson choice name a size, sizes and
    /// the minimum are above zero. Returns the setting at fault and why.
    ///
    /// # Errors
    /// `(setting, message)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let known = |name: &str| self.size(name).is_some();
        let allowed = || self.size_names().join(", ");
        if !known(&self.default_size) {
            return Err((
                "backend.budgets.defaultSize",
                format!(
                    "`{}` is not a size; sizes: {}",
                    self.default_size,
                    allowed()
                ),
            ));
        }
        for (lesson, size) in &self.lessons {
            if !known(size) {
                return Err((
                    "backend.budgets.lessons",
                    format!(
                        "lesson {lesson}: `{size}` is not a size; sizes: {}",
                        allowed()
                    ),
                ));
            }
        }
        let too_small = |size: &Size| size.cpu.0 == 0 || size.memory.0 < MIB;
        for (name, size) in &self.sizes {
            if name.is_empty() || too_small(size) {
                return Err((
                    "backend.budgets.sizes",
                    format!("size `{name}`: needs a name, CPU above 0 and memory of at least 1Mi"),
                ));
            }
        }
        if too_small(&self.pod_minimum) {
            return Err((
                "backend.budgets.podMinimum",
                "CPU must be above 0 and memory at least 1Mi".into(),
            ));
        }
        Ok(())
    }
}

/// How a livelesson's budget is shared: see the module's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The size's name.
    pub size_name: String,
    /// The whole budget: the quota's hard limits.
    pub budget: Size,
    /// Endpoint pods (the jupyter guide's included).
    pub endpoint_pods: u64,
    /// Configuration pods running at once.
    pub config_pods: u64,
    /// Each pod's requests and limits.
    pub per_pod: Size,
}

impl Plan {
    /// The plan of `lesson` under `budgets`.
    ///
    /// # Errors
    /// [`UnknownSize`].
    pub fn of(budgets: &Budgets, lesson: &Lesson) -> Result<Self, UnknownSize> {
        let (size_name, budget) = budgets.choose(lesson)?;
        let endpoint_pods = lesson.endpoints.len() as u64 + u64::from(lesson.uses_jupyter());
        let config_pods = lesson
            .endpoints
            .iter()
            .filter(|e| e.configuration_type.is_some())
            .count() as u64;
        let pods = (endpoint_pods + config_pods).max(1);
        let share = Size::new(budget.cpu.0 / pods, budget.memory.0 / pods / MIB * MIB);
        let minimum = budgets.pod_minimum;
        let per_pod = Size::new(
            share.cpu.0.max(minimum.cpu.0),
            share.memory.0.max(minimum.memory.0),
        );
        Ok(Self {
            size_name,
            budget,
            endpoint_pods,
            config_pods,
            per_pod,
        })
    }

    /// Whether every pod of the lesson fits at once.
    pub fn fits(&self) -> bool {
        self.per_pod
            .times(self.endpoint_pods + self.config_pods)
            .fits(self.budget)
    }

    /// When the configuration pods would not fit beside the endpoint pods, the refusal
    /// kube-apiserver's quota admission would give the first of them, in its words
    /// (`exceeded quota: budget, requested: ..., used: ..., limited: ...`): the
    /// configuration job's controller, not the scheduler, creates those pods, and a
    /// refusal there would only show as a job that never starts.
    pub fn config_refusal(&self) -> Option<String> {
        if self.config_pods == 0 {
            return None;
        }
        let used = self.per_pod.times(self.endpoint_pods);
        let mut placed = used;
        for _ in 0..self.config_pods {
            let after = Size::new(
                placed.cpu.0 + self.per_pod.cpu.0,
                placed.memory.0 + self.per_pod.memory.0,
            );
            if !after.fits(self.budget) {
                return Some(exceeded_message(self.per_pod, placed, self.budget));
            }
            placed = after;
        }
        None
    }
}

/// `exceeded quota: budget, requested: ..., used: ..., limited: ...` for the resources
/// `requested` on top of `used` takes past `limit`, as kube-apiserver writes it (keys
/// sorted, `key=value` joined by commas; requests equal limits here).
pub fn exceeded_message(requested: Size, used: Size, limit: Size) -> String {
    let mut keys = Vec::new();
    if used.cpu.0 + requested.cpu.0 > limit.cpu.0 {
        keys.push("cpu");
    }
    if used.memory.0 + requested.memory.0 > limit.memory.0 {
        keys.push("memory");
    }
    let list = |size: Size| {
        let mut parts = Vec::new();
        for prefix in ["limits", "requests"] {
            for key in &keys {
                let value = if *key == "cpu" {
                    size.cpu.to_string()
                } else {
                    size.memory.to_string()
                };
                parts.push(format!("{prefix}.{key}={value}"));
            }
        }
        parts.join(",")
    };
    format!(
        "exceeded quota: {QUOTA_NAME}, requested: {}, used: {}, limited: {}",
        list(requested),
        list(used),
        list(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(endpoints: usize, configurable: usize, budget: Option<&str>) -> Lesson {
        let yaml = serde_json::json!({
            "name": "L", "slug": "l", "category": "fundamentals", "tier": "prod",
            "description": "d", "shortDescription": "s", "prereqs": [], "tags": [],
            "stages": [{"description": "s", "guideType": "markdown"}],
            "endpoints": (0..endpoints).map(|i| serde_json::json!({
                "name": format!("e{i}"), "image": "utility",
                "configurationType": (i < configurable).then_some("python"),
                "additionalPorts": [], "presentations": [], "configurationFiles": []
            })).collect::<Vec<_>>(),
            "connections": [], "authors": [], "readyDelay": 0, "budget": budget,
        });
        serde_json::from_value(yaml).expect("lesson")
    }

    #[test]
    fn built_in_sizes_are_educates_figures() {
        let budgets = Budgets::default();
        assert_eq!(budgets.size("small"), Some(Size::new(1000, 1 << 30)));
        assert_eq!(budgets.size("xxx-large"), Some(Size::new(8000, 16 << 30)));
        assert_eq!(budgets.size("huge"), None);
    }

    #[test]
    fn the_configuration_wins_over_the_lesson_which_wins_over_the_default() {
        let mut budgets = Budgets::default();
        let small = lesson(1, 0, Some("small"));
        assert_eq!(budgets.choose(&small).expect("size").0, "small");
        assert_eq!(
            budgets.choose(&lesson(1, 0, None)).expect("size").0,
            "medium"
        );
        budgets.lessons.insert("l".into(), "large".into());
        assert_eq!(budgets.choose(&small).expect("size").0, "large");
    }

    #[test]
    fn an_unknown_size_names_the_lesson_and_the_sizes() {
        let err = Budgets::default()
            .choose(&lesson(1, 0, Some("huge")))
            .expect_err("unknown");
        let text = err.to_string();
        assert!(
            text.contains("lesson `l`") && text.contains("`huge`"),
            "{text}"
        );
        assert!(
            text.contains("small, medium, large, x-large, xx-large, xxx-large"),
            "{text}"
        );
    }

    #[test]
    fn the_budget_is_split_over_endpoint_and_configuration_pods() {
        let plan = Plan::of(&Budgets::default(), &lesson(3, 1, Some("small"))).expect("plan");
        assert_eq!((plan.endpoint_pods, plan.config_pods), (3, 1));
        assert_eq!(plan.per_pod, Size::new(250, 256 * MIB));
        assert!(plan.fits());
        assert_eq!(plan.config_refusal(), None);
    }

    #[test]
    fn shares_below_the_minimum_do_not_fit() {
        // 1 CPU over 12 pods is 83m, below the 100m minimum.
        let plan = Plan::of(&Budgets::default(), &lesson(12, 0, Some("small"))).expect("plan");
        assert_eq!(plan.per_pod, Size::new(100, 128 * MIB));
        assert!(!plan.fits());
    }

    #[test]
    fn configuration_pods_that_cannot_fit_are_refused_in_the_apis_words() {
        // 8 endpoints fill a small budget at the minimum; the configuration pods cannot.
        let plan = Plan::of(&Budgets::default(), &lesson(8, 2, Some("small"))).expect("plan");
        assert_eq!(
            plan.config_refusal().as_deref(),
            Some(
                "exceeded quota: budget, requested: limits.memory=128Mi,requests.memory=128Mi, \
                 used: limits.memory=1Gi,requests.memory=1Gi, limited: \
                 limits.memory=1Gi,requests.memory=1Gi"
            )
        );
    }

    #[test]
    fn settings_naming_unknown_sizes_are_refused() {
        let mut budgets = Budgets::default();
        assert_eq!(budgets.validate(), Ok(()));
        budgets.default_size = "huge".into();
        assert_eq!(
            budgets.validate().expect_err("unknown").0,
            "backend.budgets.defaultSize"
        );
        budgets
            .sizes
            .insert("huge".into(), Size::new(16000, 32 << 30));
        assert_eq!(budgets.validate(), Ok(()));
        budgets.lessons.insert("x".into(), "tiny".into());
        assert_eq!(
            budgets.validate().expect_err("unknown").0,
            "backend.budgets.lessons"
        );
    }
}
