//! Fault-injection knobs (pod behaviours, API latency, error rates, reachability), the
//! request log that tests read back, and the simulated images' SSH logins.

use crate::agent::login::Logins;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Something a simulated pod does differently from a healthy one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Image pull fails: `ErrImagePull`, then `ImagePullBackOff`; the pod stays Pending.
    PullFailure,
    /// The main containers crash repeatedly: `CrashLoopBackOff`, growing restartCount.
    CrashLoop,
    /// Extra delay before containers start.
    SlowStart(Duration),
    /// This container port is never listened on (the pod still becomes Running).
    PortNeverListens(u16),
    /// Init containers terminate with this non-zero exit code.
    InitFailure {
        /// Exit code reported in `initContainerStatuses`.
        exit_code: i32,
    },
    /// Pods of a Job fail their first `n` attempts (counted per Job).
    JobFails(u32),
}

/// What a behaviour rule is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Any container (or init container) image matching this glob (`*`, `?`).
    Image(String),
    /// Pod names matching this glob.
    PodName(String),
    /// Every pod.
    Global,
}

/// API latency added before each request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latency {
    /// No added latency.
    #[default]
    None,
    /// A fixed delay.
    Fixed(Duration),
    /// A uniformly random delay in `[min, max]`, drawn from the seeded RNG.
    Range(Duration, Duration),
}

/// The failure an error-rate knob injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    /// 500 InternalError.
    Internal,
    /// 429 TooManyRequests with `Retry-After` in seconds.
    TooManyRequests {
        /// Seconds sent in `Retry-After`.
        retry_after_s: u64,
    },
}

/// Snapshot of the requests the API served, for assertions and RBAC derivation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Count per (verb, resource[/subresource]).
    pub counts: BTreeMap<(String, String), u64>,
    /// Every (verb, apiGroup, resource[/subresource]) seen; apiGroup is "" for core.
    pub seen: BTreeSet<(String, String, String)>,
}

impl RequestStats {
    /// Requests counted for `verb` on `resource` (e.g. `("create", "pods")`).
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Total requests counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

#[derive(Debug, Default)]
struct KnobState {
    rules: Vec<(Target, Behaviour)>,
    latency: Latency,
    /// (verb or None for every verb, probability, error)
    error_rates: Vec<(Option<String>, f64, InjectedError)>,
    /// (verb, resource): requests that are never answered while the rule stands.
    hangs: Vec<(String, String)>,
    requests: RequestStats,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<KnobState>,
    rng: Mutex<StdRng>,
    unreachable_want: watch::Sender<bool>,
    unreachable_applied: watch::Sender<bool>,
    /// Bumped whenever the hang rules change, waking the requests they hold.
    hangs_changed: watch::Sender<u64>,
    /// Which login each image's SSH server accepts.
    logins: Logins,
}

/// A cloneable handle on the knobs of one kubesim instance.
#[derive(Debug, Clone)]
pub struct Knobs {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a knob lock cannot leave the data half-updated in a way that
    // matters to a simulator, so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Shell-style glob match supporting `*` and `?`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Knobs {
    /// Knobs with no rule set and an RNG seeded with `seed` (a node agent of its own
    /// process takes these).
    pub fn new(seed: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(KnobState::default()),
                rng: Mutex::new(StdRng::seed_from_u64(seed)),
                unreachable_want: watch::Sender::new(false),
                unreachable_applied: watch::Sender::new(false),
                hangs_changed: watch::Sender::new(0),
                logins: Logins::default(),
            }),
        }
    }

    /// The logins the SSH servers of pods accept, by image (what the images would have
    /// baked in; see [`crate::agent::login`]).
    pub fn logins(&self) -> &Logins {
        &self.inner.logins
    }

    /// Applies `b` to pods with a container image matching `glob`.
    pub fn set_image_behaviour(&self, glob: &str, b: Behaviour) {
        lock(&self.inner.state)
            .rules
            .push((Target::Image(glob.into()), b));
    }

    /// Applies `b` to pods whose name matches `glob`.
    pub fn set_pod_behaviour(&self, glob: &str, b: Behaviour) {
        lock(&self.inner.state)
            .rules
            .push((Target::PodName(glob.into()), b));
    }

    /// Applies `b` to every pod.
    pub fn set_global_behaviour(&self, b: Behaviour) {
        lock(&self.inner.state).rules.push((Target::Global, b));
    }

    /// Removes every pod behaviour rule (pods already started keep theirs).
    pub fn clear_behaviours(&self) {
        lock(&self.inner.state).rules.clear();
    }

    /// Sets API latency.
    pub fn set_latency(&self, l: Latency) {
        lock(&self.inner.state).latency = l;
    }

    /// Injects `err` with probability `p` (0..=1) on requests of `verb` (a Kubernetes verb
    /// name such as `create`), or on every verb when `verb` is `None`.
    pub fn set_error_rate(&self, verb: Option<&str>, p: f64, err: InjectedError) {
        let mut s = lock(&self.inner.state);
        s.error_rates
            .retain(|(v, _, e)| !(v.as_deref() == verb && *e == err));
        s.error_rates
            .push((verb.map(str::to_string), p.clamp(0.0, 1.0), err));
    }

    /// Holds every request of `verb` on `resource` (e.g. `("create", "namespaces")`)
    /// unanswered, as a hung API server or a dead connection does, until
    /// [`Knobs::clear_hangs`]: the client's own timeout is what ends it.
    pub fn hang(&self, verb: &str, resource: &str) {
        lock(&self.inner.state)
            .hangs
            .push((verb.to_owned(), resource.to_owned()));
        self.inner.hangs_changed.send_modify(|n| *n += 1);
    }

    /// Removes every hang rule; the requests they held are served.
    pub fn clear_hangs(&self) {
        lock(&self.inner.state).hangs.clear();
        self.inner.hangs_changed.send_modify(|n| *n += 1);
    }

    /// Waits while a hang rule holds requests of `verb` on `resource`.
    pub(crate) async fn wait_unless_hung(&self, verb: &str, resource: &str) {
        let mut changed = self.inner.hangs_changed.subscribe();
        loop {
            let hung = lock(&self.inner.state)
                .hangs
                .iter()
                .any(|(v, r)| v == verb && r == resource);
            if !hung || changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Removes every error-rate rule.
    pub fn clear_error_rates(&self) {
        lock(&self.inner.state).error_rates.clear();
    }

    /// Makes the API unreachable (listener closed, open connections dropped, so clients get
    /// connection refused) or restores it. Returns once the change is in effect.
    pub async fn set_unreachable(&self, unreachable: bool) {
        self.inner.unreachable_want.send_replace(unreachable);
        let mut rx = self.inner.unreachable_applied.subscribe();
        // The server task owns the listener; wait for it to acknowledge.
        let _ = rx.wait_for(|v| *v == unreachable).await;
    }

    /// Snapshot of request counts and the RBAC set.
    pub fn requests(&self) -> RequestStats {
        lock(&self.inner.state).requests.clone()
    }

    /// Forgets every counted request.
    pub fn reset_requests(&self) {
        lock(&self.inner.state).requests = RequestStats::default();
    }

    pub(crate) fn record(&self, verb: &str, group: &str, resource: &str) {
        let mut s = lock(&self.inner.state);
        *s.requests
            .counts
            .entry((verb.to_string(), resource.to_string()))
            .or_insert(0) += 1;
        s.requests
            .seen
            .insert((verb.to_string(), group.to_string(), resource.to_string()));
    }

    pub(crate) fn latency(&self) -> Duration {
        let l = lock(&self.inner.state).latency;
        match l {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Range(a, b) if b > a => {
                let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
                Duration::from_micros(self.rng_range(micros(a), micros(b).saturating_add(1)))
            }
            Latency::Range(a, _) => a,
        }
    }

    pub(crate) fn injected_error(&self, verb: &str) -> Option<InjectedError> {
        let rules = lock(&self.inner.state).error_rates.clone();
        for (v, p, e) in rules {
            if v.as_deref().is_none_or(|v| v == verb) && self.rng_f64() < p {
                return Some(e);
            }
        }
        None
    }

    pub(crate) fn behaviours_for(&self, pod_name: &str, images: &[String]) -> Vec<Behaviour> {
        lock(&self.inner.state)
            .rules
            .iter()
            .filter(|(t, _)| match t {
                Target::Global => true,
                Target::PodName(g) => glob_match(g, pod_name),
                Target::Image(g) => images.iter().any(|i| glob_match(g, i)),
            })
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub(crate) fn rng_f64(&self) -> f64 {
        lock(&self.inner.rng).random::<f64>()
    }

    pub(crate) fn rng_range(&self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lock(&self.inner.rng).random_range(lo..hi)
    }

    pub(crate) fn rng_bytes(&self) -> [u8; 16] {
        lock(&self.inner.rng).random()
    }

    pub(crate) fn unreachable_want(&self) -> watch::Receiver<bool> {
        self.inner.unreachable_want.subscribe()
    }

    pub(crate) fn ack_unreachable(&self, v: bool) {
        self.inner.unreachable_applied.send_replace(v);
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("vqfx*", "vqfx-re:1"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a*d", "abc"));
        assert!(glob_match("*b*", "abc"));
    }
}
