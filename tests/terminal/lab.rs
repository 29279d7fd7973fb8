//! The terminal tests' lab: the shared lab (`tests/support/lab.rs`: the example
//! curriculum, kubesim with real SSH, workers running the real workflows) and the gateway
//! on loopback.

use std::time::Duration;

use antidote_scheduler::curriculum::PresentationType;
use antidote_scheduler::gateway::{Clients, Gateway, GatewaySettings};
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::queue::WorkerEvent;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::{CREATE, DELETE, request};
use sqlx::PgPool;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[path = "../support/lab.rs"]
mod common;
pub use common::Lab;

/// A READY livelesson's terminals.
pub struct Ready {
    pub id: LivelessonId,
    /// `host:port` of every `ssh` presentation.
    pub ssh: Vec<(String, u16)>,
}

/// Lab, worker and gateway.
pub struct Terminals {
    pub lab: Lab,
    pub origin: String,
    #[allow(dead_code)]
    pub gateway: Gateway,
    events: broadcast::Receiver<WorkerEvent>,
    worker: (oneshot::Sender<()>, JoinHandle<()>),
    stop: CancellationToken,
    served: JoinHandle<std::io::Result<()>>,
}

impl Terminals {
    pub async fn start(pool: PgPool, settings: GatewaySettings) -> Self {
        let lab = Lab::start(pool).await;
        let worker = lab.worker(common::worker_config());
        let events = worker.subscribe();
        let worker = common::start(worker);
        let settings = GatewaySettings {
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            ..settings
        };
        let listener = Gateway::bind(&settings).await.expect("gateway binds");
        let origin = Gateway::origin(&settings, listener.local_addr().expect("address"));
        let gateway = Gateway::new(lab.pool.clone(), settings, Clients::default());
        let stop = CancellationToken::new();
        let served = tokio::spawn(gateway.clone().serve(listener, {
            let stop = stop.clone();
            async move { stop.cancelled().await }
        }));
        Self {
            lab,
            origin,
            gateway,
            events,
            worker,
            stop,
            served,
        }
    }

    /// Requests `lesson` in a new session and waits until it is READY.
    pub async fn ready(&mut self, lesson: &str) -> Ready {
        let session = self.lab.session().await;
        let ll = self.lab.request(&session, lesson, 0).await;
        let create = self.lab.job(CREATE, &ll.id).await;
        common::finished(&mut self.events, create, Duration::from_secs(120)).await;
        let ll = self.lab.livelesson(&ll.id).await.expect("row");
        assert_eq!(ll.status, Status::Ready, "{lesson}: {:?}", ll.error);
        let ssh = ll
            .endpoints
            .iter()
            .flat_map(|e| {
                let host = e.host.clone().expect("a READY endpoint has a host");
                e.presentations
                    .iter()
                    .filter(|p| p.kind == PresentationType::Ssh)
                    .map(move |p| (host.clone(), p.port))
            })
            .collect();
        Ready { id: ll.id, ssh }
    }

    /// Kills livelesson `id` as the API does, and waits for its DELETE.
    pub async fn kill(&mut self, id: &LivelessonId) {
        request::kill(&self.lab.pool, &self.lab.queue, id)
            .await
            .expect("kill");
        let delete = self.lab.job(DELETE, id).await;
        common::finished(&mut self.events, delete, Duration::from_secs(120)).await;
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.served
            .await
            .expect("gateway task")
            .expect("gateway serves");
        let _ = self.worker.0.send(());
        let _ = self.worker.1.await;
    }
}
