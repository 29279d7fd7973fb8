//! The in-memory object store: objects as JSON keyed by (resource, namespace, name), a
//! global resourceVersion, and a bounded event history that watches replay and resume from.

use crate::resources::{self, RESOURCES, ResourceDef};
use crate::status::ApiError;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the store.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The resource (index into [`RESOURCES`]).
    pub res: usize,
    /// The object after the change (for deletes, its last state with the delete's rv).
    pub object: Arc<Value>,
}

impl Event {
    /// The resource definition of the object.
    pub fn def(&self) -> &'static ResourceDef {
        &RESOURCES[self.res]
    }
    /// Namespace of the object ("" when cluster-scoped).
    pub fn namespace(&self) -> &str {
        meta_str(&self.object, "namespace")
    }
    /// Name of the object.
    pub fn name(&self) -> &str {
        meta_str(&self.object, "name")
    }
}

/// The `metadata.<field>` string of an object, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

type Key = (usize, String, String);

struct Inner {
    /// Current objects, shared with the history event that recorded them: a write clones
    /// the object once (to change it), never to store or announce it.
    objects: BTreeMap<Key, Arc<Value>>,
    rv: u64,
    history: VecDeque<Event>,
    /// Watches must start at or after this rv; older history was dropped.
    compacted: u64,
}

/// The shared store.
pub struct Store {
    inner: Mutex<Inner>,
    history_cap: usize,
    latest: watch::Sender<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("history_cap", &self.history_cap)
            .field("latest", &*self.latest.borrow())
            .finish_non_exhaustive()
    }
}

/// Outcome of asking for history after an rv.
pub enum Since {
    /// Events after the rv, in order (maybe empty).
    Events(Vec<Event>),
    /// The rv is older than the retained history.
    Gone,
}

impl std::fmt::Debug for Since {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Events(events) => write!(f, "Events({} events)", events.len()),
            Self::Gone => f.write_str("Gone"),
        }
    }
}

fn idx(def: &ResourceDef) -> usize {
    resources::index_of(def.plural, def.group).unwrap_or(0)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Everything outside `metadata` and `status`: what `generation` tracks.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

impl Store {
    pub(crate) fn new(history_cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                rv: 1,
                history: VecDeque::new(),
                compacted: 1,
            }),
            history_cap: history_cap.max(16),
            latest: watch::Sender::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below completes before the guard drops, so a poisoned lock only
        // means a panicking reader; the data is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current global resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver that changes whenever a new event is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    fn push(&self, g: &mut Inner, kind: EventType, res: usize, object: Arc<Value>) {
        g.history.push_back(Event {
            rv: g.rv,
            kind,
            res,
            object,
        });
        while g.history.len() > self.history_cap {
            if let Some(e) = g.history.pop_front() {
                g.compacted = e.rv;
            }
        }
        self.latest.send_replace(g.rv);
    }

    /// Events with rv greater than `rv`.
    pub fn since(&self, rv: u64) -> Since {
        let g = self.lock();
        if rv < g.compacted {
            return Since::Gone;
        }
        let start = g.history.partition_point(|e| e.rv <= rv);
        Since::Events(g.history.range(start..).cloned().collect())
    }

    fn ns_check(g: &Inner, def: &ResourceDef, ns: &str, name: &str) -> Result<(), ApiError> {
        if !def.namespaced {
            return Ok(());
        }
        let nsdef = resources::namespaces();
        match g.objects.get(&(idx(nsdef), String::new(), ns.to_string())) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n)
                if n.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") =>
            {
                let why = format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                );
                let mut refused = ApiError::forbidden(def.group, def.plural, name, &why);
                refused.details.causes.push(crate::status::Cause {
                    reason: "NamespaceTerminating".into(),
                    message: why,
                    field: "metadata.namespace".into(),
                });
                Err(refused)
            }
            Some(_) => Ok(()),
        }
    }

    /// Stores a new object prepared by the caller (name, uid and defaults already set).
    pub fn create(
        &self,
        def: &ResourceDef,
        ns: &str,
        mut obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let name = meta_str(&obj, "name").to_string();
        let mut g = self.lock();
        Self::ns_check(&g, def, ns, &name)?;
        let key = (idx(def), ns.to_string(), name.clone());
        if g.objects.contains_key(&key) {
            return Err(ApiError::already_exists(def.group, def.plural, &name));
        }
        g.rv += 1;
        let rv = g.rv;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.insert("creationTimestamp".into(), json!(now()));
            m.insert("generation".into(), json!(1));
            if def.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
        }
        let obj = Arc::new(obj);
        g.objects.insert(key, obj.clone());
        self.push(&mut g, EventType::Added, idx(def), obj.clone());
        Ok(obj)
    }

    /// Reads one object.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.lock()
            .objects
            .get(&(idx(def), ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(def.group, def.plural, name))
    }

    /// Lists objects of `def` (in `ns`, or everywhere when `None`) passing `keep`, sorted by
    /// (namespace, name), with the rv the list is consistent with.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        keep: &dyn Fn(&Value) -> bool,
    ) -> (Vec<Arc<Value>>, u64) {
        let g = self.lock();
        let i = idx(def);
        let lo = (i, ns.unwrap_or("").to_string(), String::new());
        let items = g
            .objects
            .range(lo..)
            .take_while(|((r, n, _), _)| *r == i && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v)
            .filter(|v| keep(v))
            .cloned()
            .collect();
        (items, g.rv)
    }

    /// Replaces an object (PUT), honouring resourceVersion and uid preconditions. With
    /// `status_only` only `.status` changes; otherwise `.status` is kept for resources that
    /// have a status subresource. No-op writes do not bump the resourceVersion.
    pub fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut new: Value,
        status_only: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let mut g = self.lock();
        let key = (idx(def), ns.to_string(), name.to_string());
        let old = g
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(def.group, def.plural, name))?;
        let want_rv = meta_str(&new, "resourceVersion");
        if !want_rv.is_empty() && want_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(
                def.group,
                def.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        // An update naming another uid (a writer holding an object deleted and created
        // again under its name) is refused as an immutable field, as ValidateObjectMetaUpdate
        // does; only DeleteOptions preconditions answer Conflict.
        let want_uid = meta_str(&new, "uid");
        if !want_uid.is_empty() && want_uid != meta_str(&old, "uid") {
            return Err(ApiError::invalid(
                def.group,
                def.kind,
                name,
                vec![crate::status::Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: \"{want_uid}\": field is immutable"),
                    field: "metadata.uid".into(),
                }],
            ));
        }
        if status_only {
            let status = new.get("status").cloned().unwrap_or(Value::Null);
            new = Value::clone(&old);
            if let Some(o) = new.as_object_mut() {
                o.insert("status".into(), status);
            }
        } else {
            // Server-owned metadata survives client writes.
            if let (Some(nm), Some(om)) = (
                new.get_mut("metadata").and_then(Value::as_object_mut),
                old.get("metadata").and_then(Value::as_object),
            ) {
                for f in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "generation",
                    "namespace",
                    "name",
                ] {
                    match om.get(f) {
                        Some(v) => nm.insert(f.into(), v.clone()),
                        None => nm.remove(f),
                    };
                }
            }
            if def.has_status
                && let Some(o) = new.as_object_mut()
            {
                match old.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
            if spec_part(&new) != spec_part(&old) {
                let gen_ = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                new["metadata"]["generation"] = json!(gen_ + 1);
            }
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if new == *old {
            return Ok(old);
        }
        Ok(self.replace(&mut g, def, key, new))
    }

    /// Stores `new` as the next version of the object at `key` and announces it.
    fn replace(&self, g: &mut Inner, def: &ResourceDef, key: Key, mut new: Value) -> Arc<Value> {
        g.rv += 1;
        new["metadata"]["resourceVersion"] = json!(g.rv.to_string());
        let new = Arc::new(new);
        g.objects.insert(key, new.clone());
        self.push(g, EventType::Modified, idx(def), new.clone());
        new
    }

    /// Internal write used by controllers: applies `f` to the current object and stores the
    /// result if it changed. Returns the new object, or `None` when the object is gone.
    pub fn mutate(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Arc<Value>> {
        let mut g = self.lock();
        let key = (idx(def), ns.to_string(), name.to_string());
        let old = g.objects.get(&key)?.clone();
        let mut new = Value::clone(&old);
        f(&mut new);
        if new == *old {
            return Some(old);
        }
        Some(self.replace(&mut g, def, key, new))
    }

    /// Like [`Store::mutate`] but only for the object with this uid (so a recreated object
    /// of the same name is left alone).
    pub fn mutate_uid(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        uid: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Arc<Value>> {
        self.mutate(def, ns, name, |o| {
            if meta_str(o, "uid") == uid {
                f(o);
            }
        })
        .filter(|o| meta_str(o, "uid") == uid)
    }

    /// Removes an object, checking optional uid / resourceVersion preconditions.
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        pre_uid: Option<&str>,
        pre_rv: Option<&str>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut g = self.lock();
        let key = (idx(def), ns.to_string(), name.to_string());
        let old = g
            .objects
            .get(&key)
            .ok_or_else(|| ApiError::not_found(def.group, def.plural, name))?;
        if let Some(u) = pre_uid.filter(|u| *u != meta_str(old, "uid")) {
            return Err(ApiError::conflict(
                def.group,
                def.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                    meta_str(old, "uid")
                ),
            ));
        }
        if let Some(r) = pre_rv.filter(|r| *r != meta_str(old, "resourceVersion")) {
            return Err(ApiError::conflict(
                def.group,
                def.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {r}, ResourceVersion in object meta: {}",
                    meta_str(old, "resourceVersion")
                ),
            ));
        }
        let mut obj = g
            .objects
            .remove(&key)
            .map_or(Value::Null, Arc::unwrap_or_clone);
        g.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(g.rv.to_string());
        let obj = Arc::new(obj);
        self.push(&mut g, EventType::Deleted, idx(def), obj.clone());
        Ok(obj)
    }

    /// (resource, name, object) of every namespaced object in `ns`.
    pub fn contents_of(&self, ns: &str) -> Vec<(&'static ResourceDef, String, Arc<Value>)> {
        let g = self.lock();
        g.objects
            .iter()
            .filter(|((r, n, _), _)| n == ns && RESOURCES[*r].namespaced)
            .map(|((r, _, name), v)| (&RESOURCES[*r], name.clone(), v.clone()))
            .collect()
    }

    /// Objects in `ns` with an ownerReference to `owner_uid`.
    pub fn dependents_of(&self, ns: &str, owner_uid: &str) -> Vec<(&'static ResourceDef, String)> {
        let g = self.lock();
        g.objects
            .iter()
            .filter(|((_, n, _), _)| n == ns)
            .filter(|(_, v)| {
                v.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                    })
            })
            .map(|((r, _, name), _)| (&RESOURCES[*r], name.clone()))
            .collect()
    }
}
