//! Shared watch caches: one kube-runtime watcher per resource kind for the whole worker,
//! feeding a map that any number of waiters read. Waiting therefore costs API requests in
//! proportion to objects, not to waiting time or to the number of waiters. Each object is
//! cached as its [`Cached::Summary`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::cached::Cached;
use super::calls::Calls;

/// (namespace, name) → summary of the object.
pub type Objects<K> = BTreeMap<(String, String), <K as Cached>::Summary>;

struct State<K: Cached> {
    objects: RwLock<Objects<K>>,
    synced: std::sync::atomic::AtomicBool,
    changed: Notify,
}

/// A cache of every `K` matching a label selector, kept current by one watch.
pub struct Watched<K: Cached> {
    state: Arc<State<K>>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: Cached> std::fmt::Debug for Watched<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").finish_non_exhaustive()
    }
}

impl<K: Cached> Drop for Watched<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K> Watched<K>
where
    K: Resource + Cached + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    /// Starts watching `api` (all namespaces) for objects matching `labels`; an
    /// interruption of the watch counts as a failure of the API in `calls`.
    pub fn start(api: Api<K>, labels: &str, calls: Calls) -> Self {
        let state = Arc::new(State {
            objects: RwLock::new(BTreeMap::new()),
            synced: std::sync::atomic::AtomicBool::new(false),
            changed: Notify::new(),
        });
        let config = watcher::Config::default().labels(labels);
        let task = tokio::spawn(run(api, config, state.clone(), calls));
        Self { state, task }
    }

    /// Waits until `check` over the cache returns `Some`, re-checking on every change, or
    /// returns `None` at `deadline`.
    pub async fn wait_for<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&Objects<K>) -> Option<T>,
    ) -> Option<T> {
        loop {
            let changed = self.state.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.state.synced.load(std::sync::atomic::Ordering::Acquire) {
                let objects = self
                    .state
                    .objects
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(found) = check(&objects) {
                    return Some(found);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }

    /// Reads the cache once it has synced (waiting at most `within` for the first list).
    pub async fn read<T>(
        &self,
        within: Duration,
        read: impl FnOnce(&Objects<K>) -> T,
    ) -> Option<T> {
        let mut read = Some(read);
        self.wait_for(Instant::now() + within, |objects| {
            read.take().map(|f| f(objects))
        })
        .await
    }
}

async fn run<K>(api: Api<K>, config: watcher::Config, state: Arc<State<K>>, calls: Calls)
where
    K: Resource + Cached + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let mut relist: Option<Objects<K>> = None;
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                calls.failed();
                tracing::debug!(error = %err, "watch interrupted; it resumes with backoff");
                continue;
            }
        };
        let mut objects = state
            .objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::Init => relist = Some(BTreeMap::new()),
            Event::InitApply(object) => {
                if let Some(fresh) = relist.as_mut() {
                    fresh.insert(key(&object), object.summarize());
                }
            }
            Event::InitDone => {
                if let Some(fresh) = relist.take() {
                    *objects = fresh;
                }
                state
                    .synced
                    .store(true, std::sync::atomic::Ordering::Release);
            }
            Event::Apply(object) => {
                objects.insert(key(&object), object.summarize());
            }
            Event::Delete(object) => {
                objects.remove(&key(&object));
            }
        }
        drop(objects);
        state.changed.notify_waiters();
    }
}

fn key<K: Resource>(object: &K) -> (String, String) {
    (object.namespace().unwrap_or_default(), object.name_any())
}
