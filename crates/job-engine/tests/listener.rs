//! The wake-up listener against a real PostgreSQL behind a TCP proxy of the test's own
//! (127.0.0.1 only) that stops forwarding without closing anything, as a proxy whose
//! server is gone may: the listener's ping goes unanswered, it opens another connection
//! (through the proxy, which forwards new connections), wakes every local waiter once for
//! what it may have missed, and a later NOTIFY wakes the queue's waiter again.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use job_engine::notifier::{self, LocalWakers, Ping};
use job_engine::testing::store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const CHANNEL: &str = "listener_test";
/// Generous bound for a loaded machine; every wait ends at an event before it.
const WITHIN: Duration = Duration::from_secs(30);

/// A TCP proxy to `target` on a free loopback port. [`Proxy::freeze`] stops forwarding
/// on every connection open then, keeping both of its sides open; connections opened
/// later are forwarded.
struct Proxy {
    addr: SocketAddr,
    /// Cancelled to freeze the connections accepted under it.
    current: Arc<Mutex<CancellationToken>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let current = Arc::new(Mutex::new(CancellationToken::new()));
        let tokens = current.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let freeze = tokens.lock().expect("token").clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        () = freeze.cancelled() => {
                            // Silent from here on, both sides held open until the test ends.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        Self { addr, current }
    }

    fn freeze(&self) {
        let mut current = self.current.lock().expect("token");
        current.cancel();
        *current = CancellationToken::new();
    }
}

async fn database(pool: &PgPool) -> String {
    sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("database name")
}

fn options() -> PgConnectOptions {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL")
        .parse()
        .expect("a database URL")
}

#[sqlx::test(migrations = false)]
async fn a_listener_whose_connection_stops_answering_reconnects_and_hears_the_next_notify(
    pool: PgPool,
) {
    let options = options().database(&database(&pool).await);
    let target: SocketAddr = format!("{}:{}", options.get_host(), options.get_port())
        .parse()
        .expect("the database's TCP address");
    let proxy = Proxy::start(target).await;
    let proxied = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy_with(options.clone().host("127.0.0.1").port(proxy.addr.port()));
    let local = LocalWakers::default();
    let queue = local.get("q");
    let probe = local.get("probe");
    let ping = Ping {
        every: Duration::from_millis(500),
        timeout: Duration::from_millis(500),
    };
    let stop = CancellationToken::new();
    let listening = tokio::spawn(notifier::listen_with(
        proxied,
        local.clone(),
        CHANNEL.into(),
        ping,
        stop.clone(),
    ));

    // Listening: every waiter is woken once, then a NOTIFY wakes the queue's.
    tokio::time::timeout(WITHIN, probe.notified())
        .await
        .expect("the listener is up");
    tokio::time::timeout(WITHIN, queue.notified())
        .await
        .expect("woken at the start");
    store::notify(&pool, CHANNEL, "q").await.expect("notify");
    tokio::time::timeout(WITHIN, queue.notified())
        .await
        .expect("a NOTIFY wakes the queue's waiter");

    // The proxy goes silent: the listener's ping is not answered.
    let frozen = Instant::now();
    proxy.freeze();
    tokio::time::timeout(WITHIN, probe.notified())
        .await
        .expect("the listener reconnects and wakes everyone");
    let back = frozen.elapsed();
    println!(
        "listener back {:.2} s after its connection went silent (ping every {:?}, timeout {:?})",
        back.as_secs_f64(),
        ping.every,
        ping.timeout
    );
    assert!(
        back < ping.every + ping.timeout + Duration::from_secs(5),
        "noticed within the ping's interval and timeout (and slack): {back:?}"
    );
    tokio::time::timeout(WITHIN, queue.notified())
        .await
        .expect("the queue's waiter was woken with everyone");

    store::notify(&pool, CHANNEL, "q").await.expect("notify");
    tokio::time::timeout(WITHIN, queue.notified())
        .await
        .expect("a NOTIFY after the reconnection wakes the queue's waiter");

    stop.cancel();
    listening.await.expect("the listener ends on shutdown");
    // The frozen connection's server side is still open through the proxy: ended here,
    // so that the test's database can be dropped.
    sqlx::query(
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .execute(&pool)
    .await
    .expect("end the frozen connections");
}

#[sqlx::test(migrations = false)]
async fn the_health_check_tells_a_read_only_session_from_a_writable_one(pool: PgPool) {
    let options = options().database(&database(&pool).await);
    let mut conn = PgConnection::connect_with(&options).await.expect("connect");
    assert!(store::writable(&mut conn).await.expect("ping"));
    // What an old primary set read-only during a failover answers.
    sqlx::query("set default_transaction_read_only = on")
        .execute(&mut conn)
        .await
        .expect("read-only");
    assert!(!store::writable(&mut conn).await.expect("ping"));
}
