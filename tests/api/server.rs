//! The API served on a real socket (`127.0.0.1:0`), over the example curriculum, for tests
//! that speak HTTP as a browser does.

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::Config;
use antidote_scheduler::queue::Client;
use sqlx::PgPool;
use tokio::sync::oneshot;

use super::helpers::import_example_curriculum;

/// A running API server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its database.
    pub pool: PgPool,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves the API for `config` over `pool`, the example curriculum imported.
    pub async fn start(pool: PgPool, config: Config) -> Self {
        import_example_curriculum(&pool).await;
        Self::start_without_curriculum(pool, config).await
    }

    /// Serves the API over `pool` as it is.
    pub async fn start_without_curriculum(pool: PgPool, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let state = AppState::new(pool.clone(), Client::new(pool.clone()), &config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            pool,
            stop: Some(stop),
            task,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops accepting, finishes open requests, and checks that the server ran cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("api task").expect("api");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
