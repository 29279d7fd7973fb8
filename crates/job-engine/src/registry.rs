//! Maps job kinds to their handlers, to how the engine runs each kind (its timeout and
//! retry policy) and to the hook called when one of its jobs ends for good.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::context::JobContext;
use super::ending::EndHook;
use super::error::JobError;
use super::kind::JobKind;
use super::retry::RetryPolicy;

/// A type-erased job handler.
pub type Handler =
    Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// How the engine runs the jobs of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindOptions {
    /// Longest one attempt may run. Past it the handler is stopped (dropped at its next
    /// await), its lease is no longer renewed, and the attempt counts as a transient
    /// failure: retried after the backoff, or failed on the last attempt. `None`: no
    /// limit (a durable timer snoozes instead of running long).
    pub timeout: Option<Duration>,
    /// Backoff between this kind's attempts; `None`: the worker's
    /// [`WorkerConfig::retry`](super::WorkerConfig::retry).
    pub retry: Option<RetryPolicy>,
}

/// A registered kind: its handler and options.
#[derive(Clone)]
pub struct RegisteredKind {
    /// Runs one attempt.
    pub handler: Handler,
    /// How attempts are run.
    pub options: KindOptions,
    /// Called once when a job of the kind ends for good.
    pub on_end: Option<Arc<dyn EndHook>>,
}

impl std::fmt::Debug for RegisteredKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredKind")
            .field("options", &self.options)
            .field("on_end", &self.on_end.is_some())
            .finish_non_exhaustive()
    }
}

/// The handlers a worker can run, by job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, RegisteredKind>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for jobs of `kind` with the default [`KindOptions`] (no
    /// timeout, the worker's retry policy), replacing any earlier one.
    pub fn register<F, Fut>(&mut self, kind: impl Into<String>, handler: F) -> &mut Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.register_with(kind, KindOptions::default(), handler)
    }

    /// Registers `handler` for jobs of `kind`, run as `options` say, replacing any
    /// earlier one.
    pub fn register_with<F, Fut>(
        &mut self,
        kind: impl Into<String>,
        options: KindOptions,
        handler: F,
    ) -> &mut Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx| Box::pin(handler(ctx)));
        self.handlers.insert(
            kind.into(),
            RegisteredKind {
                handler,
                options,
                on_end: None,
            },
        );
        self
    }

    /// Registers `handler` for jobs of kind `K`, run as [`JobKind::options`] say: it gets
    /// the job's arguments as `K::Args` (arguments that do not fit fail the job at once,
    /// since no retry can fix them).
    pub fn register_kind<K, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        K: JobKind,
        F: Fn(JobContext, K::Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register_with(K::NAME, K::options(), move |ctx: JobContext| {
            let handler = handler.clone();
            let args = ctx.args::<K::Args>();
            async move { handler(ctx, args?).await }
        })
    }

    /// Calls `hook` once for each job of `kind` (registered before) that ends for good, in
    /// the transaction of its final state write (see [`crate::ending`]).
    ///
    /// # Panics
    /// Never; a kind not registered yet is left without a hook, which `debug_assert`s.
    pub fn on_end(&mut self, kind: &str, hook: Arc<dyn EndHook>) -> &mut Self {
        let registered = self.handlers.get_mut(kind);
        debug_assert!(registered.is_some(), "no handler registered for {kind:?}");
        if let Some(registered) = registered {
            registered.on_end = Some(hook);
        }
        self
    }

    /// The handler and options of `kind`.
    pub fn get(&self, kind: &str) -> Option<&RegisteredKind> {
        self.handlers.get(kind)
    }

    /// The names of the registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Runs `kind`'s attempts as `options` say from now on (an application's table of
    /// contracts applied over its registrations); false when `kind` is not registered.
    pub fn set_options(&mut self, kind: &str, options: KindOptions) -> bool {
        match self.handlers.get_mut(kind) {
            Some(registered) => {
                registered.options = options;
                true
            }
            None => false,
        }
    }

    /// The kinds that have an end hook.
    pub fn hooked_kinds(&self) -> Vec<String> {
        self.handlers
            .iter()
            .filter(|(_, registered)| registered.on_end.is_some())
            .map(|(kind, _)| kind.clone())
            .collect()
    }
}
