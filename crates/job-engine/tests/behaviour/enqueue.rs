//! Enqueueing: an unfinished unique key returns the existing job (free again once it has
//! finished), and an enqueue wakes listeners at its commit while a duplicate wakes none.

use std::time::Duration;

use job_engine::testing::store;
use job_engine::{Client, Clock, NewJob};
use sqlx::PgPool;

use crate::helpers::event_kinds;

#[sqlx::test(migrations = false)]
async fn an_unfinished_unique_key_returns_the_existing_job(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let client = Client::new(pool.clone());
    let job = NewJob::new("test.effect", serde_json::json!({})).with_unique_key("only-one");
    let first = client.enqueue(&job).await.expect("first");
    let second = client.enqueue(&job).await.expect("second");
    assert!(first.inserted);
    assert!(!second.inserted);
    assert_eq!(first.id, second.id);
    let batch = client
        .enqueue_many(&[
            job.clone(),
            NewJob::new("test.effect", serde_json::json!({})),
        ])
        .await
        .expect("batch");
    assert_eq!(batch[0].id, first.id);
    assert!(!batch[0].inserted);
    assert!(batch[1].inserted);
    let count: i64 = sqlx::query_scalar("select count(*) from jobs where unique_key = 'only-one'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);

    // Once finished, the key is free again.
    let claimed = store::claim(&pool, "default", "w", 10, 30_000, None, &Clock::database())
        .await
        .expect("claim");
    let mine = claimed
        .iter()
        .find(|j| j.id == first.id)
        .expect("claimed the unique job");
    store::complete_many(&pool, &[mine.id.0], &[mine.lease_token])
        .await
        .expect("complete");
    let third = client.enqueue(&job).await.expect("third");
    assert!(third.inserted);
    assert_ne!(third.id, first.id);
    assert_eq!(
        event_kinds(&pool, first.id).await,
        ["enqueued", "claimed", "completed"]
    );
}

#[sqlx::test(migrations = false)]
async fn an_enqueue_alone_wakes_listeners_at_its_commit_and_a_duplicate_wakes_none(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener
        .listen(job_engine::notifier::DEFAULT_CHANNEL)
        .await
        .expect("listen");
    // The client's debounced notifier can send nothing (its pool is closed), so whatever
    // is heard was sent by the enqueue's own statement.
    let closed = PgPool::connect_lazy_with((*pool.connect_options()).clone());
    closed.close().await;
    let notifier =
        job_engine::notifier::Notifier::start(closed, job_engine::notifier::LocalWakers::default());
    let client = Client::with_notifier(pool.clone(), notifier);
    let job = NewJob::new("test.effect", serde_json::json!({}))
        .with_queue("first")
        .with_unique_key("once");
    assert!(client.enqueue(&job).await.expect("enqueue").inserted);
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a wake-up in time")
        .expect("notification");
    assert_eq!(heard.payload(), "first");

    // The duplicate inserts nothing and so wakes nobody: the next wake-up heard is the
    // one of a new job in another queue (notifications arrive in commit order).
    assert!(!client.enqueue(&job).await.expect("duplicate").inserted);
    let other = NewJob::new("test.effect", serde_json::json!({})).with_queue("second");
    assert!(client.enqueue(&other).await.expect("enqueue").inserted);
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a wake-up in time")
        .expect("notification");
    assert_eq!(heard.payload(), "second");
}
