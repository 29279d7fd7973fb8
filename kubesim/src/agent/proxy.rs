//! kube-proxy's part: every Service with a loopback ClusterIP (in this agent's share of
//! them) gets a real listener per TCP port on that address, and each connection is
//! forwarded to a ready pod the Service selects, found through the API server. A Service
//! without ready endpoints closes connections at once, as a REJECT rule would. A ClusterIP
//! that is not loopback is never bound nor dialled.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};

use super::address::{BoundListener, bind_all};
use super::failure::is_simulator_error;
use super::{State, lock};

/// How long forwarding may wait for the pod to accept.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts at binding a Service's listeners when the simulator is short of a resource.
const BIND_ATTEMPTS: u32 = 5;

/// Which Services an agent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceShare {
    /// None: another agent (or a real kube-proxy) serves them.
    None,
    /// Every Service.
    All,
    /// Those whose uid hashes to `index` of `count` agents.
    Shard {
        /// This agent's share.
        index: u32,
        /// Agents sharing the Services.
        count: u32,
    },
}

impl ServiceShare {
    fn takes(self, uid: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Shard { index, count } => shard_of(uid, count) == index,
        }
    }
}

/// A stable spread of uids over `count` shards (FNV-1a).
pub(super) fn shard_of(uid: &str, count: u32) -> u32 {
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    u32::try_from(hash % u64::from(count.max(1))).unwrap_or(0)
}

/// One served Service.
pub(super) struct Served {
    cluster_ip: Ipv4Addr,
    ports: Vec<u16>,
    pub(super) task: JoinHandle<()>,
}

/// Follows every Service until aborted, binding and releasing listeners.
pub(super) async fn run(s: Arc<State>) {
    let api: Api<Service> = Api::all(s.client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen = std::collections::HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(svc) | Event::InitApply(svc)) => {
                seen.insert(svc.uid().unwrap_or_default());
                on_service(&s, &svc).await;
            }
            Ok(Event::Delete(svc)) => stop(&s, &svc.uid().unwrap_or_default()),
            Ok(Event::Init) => seen.clear(),
            Ok(Event::InitDone) => {
                let gone: Vec<String> = lock(&s.services)
                    .keys()
                    .filter(|uid| !seen.contains(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    stop(&s, &uid);
                }
            }
            Err(e) => tracing::debug!(error = %e, "kubesim agent: watching services"),
        }
    }
}

fn stop(s: &State, uid: &str) {
    if let Some(served) = lock(&s.services).remove(uid) {
        served.task.abort();
        lock(&s.service_failures).remove(&served.cluster_ip);
    }
}

/// Binds the listeners of `svc` when it is ours, loopback and not served yet (or its
/// ports changed).
async fn on_service(s: &Arc<State>, svc: &Service) {
    let uid = svc.uid().unwrap_or_default();
    if !s.config.services.takes(&uid) {
        return;
    }
    let spec = svc.spec.clone().unwrap_or_default();
    let Some(ip) = spec
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        .filter(Ipv4Addr::is_loopback)
    else {
        return;
    };
    let mut ports: Vec<u16> = spec
        .ports
        .iter()
        .flatten()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| u16::try_from(p.port).ok())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    if lock(&s.services)
        .get(&uid)
        .is_some_and(|served| served.cluster_ip == ip && served.ports == ports)
    {
        return;
    }
    stop(s, &uid);
    let namespace = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let mut attempt = 1;
    let listeners = loop {
        match bind_all(&s.listeners, ip, &ports) {
            Ok(listeners) => break listeners,
            Err(e) if is_simulator_error(&e) && attempt < BIND_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(s.config.backoff_base * attempt).await;
            }
            Err(e) => {
                let why = format!("binding {ip} ports {ports:?}: {e}");
                tracing::warn!(
                    service = name,
                    namespace,
                    "kubesim agent on node {}: simulator error: {why}",
                    s.config.node_name
                );
                lock(&s.service_failures).insert(ip, why);
                return;
            }
        }
    };
    let state = s.clone();
    let task = tokio::spawn(async move {
        let mut set = JoinSet::new();
        for l in listeners {
            set.spawn(proxy_port(
                state.clone(),
                namespace.clone(),
                name.clone(),
                l,
            ));
        }
        while set.join_next().await.is_some() {}
    });
    lock(&s.services).insert(
        uid,
        Served {
            cluster_ip: ip,
            ports,
            task,
        },
    );
}

async fn proxy_port(s: Arc<State>, ns: String, name: String, l: BoundListener) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = l.listener.accept() => match r {
                Ok((sock, _)) => {
                    conns.spawn(proxy_conn(s.clone(), ns.clone(), name.clone(), l.port, sock));
                }
                Err(e) => {
                    tracing::warn!(service = name, namespace = ns, port = l.port, error = %e, "kubesim agent: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// A ready pod `svc` selects for `port`, and the pod port it maps to, as kube-proxy would
/// pick it.
async fn backend(s: &State, ns: &str, name: &str, port: u16) -> Option<SocketAddr> {
    let svc = Api::<Service>::namespaced(s.client.clone(), ns)
        .get_opt(name)
        .await
        .ok()??;
    let spec = svc.spec?;
    let service_port = spec
        .ports?
        .into_iter()
        .find(|p| p.port == i32::from(port))?;
    let selector = spec.selector.filter(|s| !s.is_empty())?;
    let labels = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = Api::<Pod>::namespaced(s.client.clone(), ns)
        .list(&ListParams::default().labels(&labels))
        .await
        .ok()?;
    let ready: Vec<Pod> = pods.items.into_iter().filter(is_ready).collect();
    if ready.is_empty() {
        return None;
    }
    let pick = s.config.knobs.rng_range(0, ready.len() as u64);
    let pod = ready.into_iter().nth(usize::try_from(pick).ok()?)?;
    let ip: Ipv4Addr = pod.status.as_ref()?.pod_ip.as_ref()?.parse().ok()?;
    let target = match service_port.target_port {
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
            u16::try_from(n).ok()?
        }
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(pname)) => pod
            .spec?
            .containers
            .into_iter()
            .flat_map(|c| c.ports.unwrap_or_default())
            .find(|p| p.name.as_deref() == Some(pname.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())?,
        None => port,
    };
    ip.is_loopback().then(|| SocketAddr::from((ip, target)))
}

fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    pod.metadata.deletion_timestamp.is_none()
        && status.phase.as_deref() == Some("Running")
        && status.pod_ip.is_some()
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn proxy_conn(s: Arc<State>, ns: String, name: String, port: u16, mut sock: TcpStream) {
    let Some(addr) = backend(&s, &ns, &name, port).await else {
        // No ready endpoint: close at once, as a REJECT rule would.
        return;
    };
    match tokio::time::timeout(UPSTREAM_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(mut up)) => {
            let _ = tokio::io::copy_bidirectional(&mut sock, &mut up).await;
        }
        Ok(Err(e)) if is_simulator_error(&e) => {
            tracing::warn!(service = name, namespace = ns, error = %e, "kubesim agent: simulator error forwarding to {addr}");
        }
        Ok(Err(_)) | Err(_) => {}
    }
}
