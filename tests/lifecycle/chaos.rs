//! Chaos: three worker processes SIGKILLed and restarted every second or two, the API
//! taking 200 livelesson requests (with stage changes and kills), kubesim failing 5% of
//! API calls with random latency. Nothing may be lost, duplicated or leaked.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use antidote_scheduler::backend::Backend;
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::gc;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::request;
use kubesim::{InjectedError, Latency};
use rand::Rng;
use sqlx::PgPool;

use super::LESSONS;
use super::helpers::{ChildWorker, Lab, database_url};

const SESSIONS: usize = 50;

#[sqlx::test]
async fn nothing_is_lost_duplicated_or_leaked_while_workers_are_killed(pool: PgPool) {
    let lab = Lab::start(pool.clone()).await;
    let knobs = lab.sim.knobs();
    knobs.set_error_rate(None, 0.05, InjectedError::Internal);
    knobs.set_latency(Latency::Range(Duration::ZERO, Duration::from_millis(80)));
    let url = database_url(&pool).await;
    let spawn = || ChildWorker::spawn(&url, &lab.sim.url(), "");
    let mut workers = vec![spawn(), spawn(), spawn()];

    // 200 requests: every lesson in 50 sessions. Once READY, every seventh request is
    // killed and every fifth other one of a multi-stage lesson moves to stage 1.
    let mut wanted: BTreeMap<String, (&str, i64)> = BTreeMap::new();
    let mut to_kill: BTreeSet<String> = BTreeSet::new();
    let mut to_change: BTreeSet<String> = BTreeSet::new();
    let mut n = 0;
    for _ in 0..SESSIONS {
        let session = lab.session().await;
        for lesson in LESSONS {
            let ll = lab.request(&session, lesson, 0).await;
            wanted.insert(ll.id.clone(), (lesson, 0));
            if n % 7 == 3 {
                to_kill.insert(ll.id.clone());
            } else if n % 5 == 0 && lesson != "linux-first-steps" {
                to_change.insert(ll.id.clone());
            }
            n += 1;
        }
    }
    let requests = wanted.len();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(240);
    let mut next_kill = Instant::now() + Duration::from_secs(1);
    let mut kills = 0;
    let mut killed_lessons: BTreeSet<String> = BTreeSet::new();
    let mut stage_changes = 0;
    loop {
        if Instant::now() >= next_kill {
            let victim = rand::rng().random_range(0..workers.len());
            workers[victim].kill();
            workers[victim] = spawn();
            kills += 1;
            next_kill =
                Instant::now() + Duration::from_millis(rand::rng().random_range(1000..2000));
        }
        let rows: Vec<(String, String, i32, bool)> =
            sqlx::query_as("select id, status::text, current_stage, deleting from livelessons")
                .fetch_all(&pool)
                .await
                .expect("livelessons");
        for (id, status, stage, deleting) in &rows {
            let Some((lesson, want_stage)) = wanted.get(id).copied() else {
                continue;
            };
            if status != "READY" || *deleting {
                continue;
            }
            if to_kill.contains(id) && !killed_lessons.contains(id) {
                request::kill(&pool, &lab.queue, id).await.expect("kill");
                killed_lessons.insert(id.clone());
            } else if to_change.contains(id) && want_stage == 0 && *stage == 0 {
                let session: String =
                    sqlx::query_scalar("select session_id from livelessons where id = $1")
                        .bind(id)
                        .fetch_one(&pool)
                        .await
                        .expect("session");
                lab.request(&session, lesson, 1).await;
                wanted.insert(id.clone(), (lesson, 1));
                stage_changes += 1;
            }
        }
        let unfinished: i64 = sqlx::query_scalar("select count(*) from jobs")
            .fetch_one(&pool)
            .await
            .expect("jobs");
        let settled = rows.iter().all(|(id, status, stage, _)| {
            status == "READY" && wanted.get(id).is_some_and(|(_, s)| i64::from(*stage) == *s)
        });
        if unfinished == 0 && settled && started.elapsed() > Duration::from_secs(6) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled in time: {unfinished} jobs unfinished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for worker in &mut workers {
        worker.kill();
    }

    // Every requested livelesson is READY at the stage asked for, or gone when killed.
    let rows: Vec<(String, String, i32)> =
        sqlx::query_as("select id, status::text, current_stage from livelessons")
            .fetch_all(&pool)
            .await
            .expect("livelessons");
    let present: BTreeSet<&String> = rows.iter().map(|(id, _, _)| id).collect();
    let mut lost = 0;
    for (id, (_, stage)) in &wanted {
        let gone = !present.contains(id);
        if killed_lessons.contains(id) != gone {
            lost += 1;
        }
        if let Some((_, status, current)) = rows.iter().find(|(r, _, _)| r == id)
            && (status != Status::Ready.as_str() || i64::from(*current) != *stage)
        {
            lost += 1;
        }
    }

    // One namespace per livelesson with state, none for the killed; after a GC pass with
    // no grace, no namespace is left without state.
    let backend = KubernetesBackend::new(lab.kube.clone(), lab.settings.clone());
    let config = gc::Config {
        orphan_grace: Duration::ZERO,
        ..gc::Config::default()
    };
    let swept = gc::orphans::run_once(&pool, &backend, &config)
        .await
        .expect("sweep");
    let namespaces = backend.list_namespaces().await.expect("namespaces");
    let live: Vec<_> = namespaces.iter().filter(|n| !n.terminating).collect();
    let by_livelesson: BTreeSet<&String> = live.iter().map(|n| &n.livelesson_id).collect();
    let duplicated = live.len() - by_livelesson.len();
    let leaked = by_livelesson
        .iter()
        .filter(|id| !present.contains(**id))
        .count();

    // Every claim is followed by a completion, a retry, a rescue, a hand-back or an end.
    let unexplained: i64 = sqlx::query_scalar(
        "select count(*) from job_events c
         where c.kind = 'claimed' and not exists (
             select 1 from job_events f where f.job_id = c.job_id and f.id > c.id
               and f.kind in ('completed', 'retry_scheduled', 'rescued', 'handed_back',
                              'snoozed', 'failed', 'cancelled'))",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    let rescues: i64 = sqlx::query_scalar("select count(*) from job_events where kind = 'rescued'")
        .fetch_one(&pool)
        .await
        .expect("rescues");
    println!(
        "chaos: requests {requests}, stage changes {stage_changes}, kills of livelessons {}, worker SIGKILLs {kills}, restarts {kills}, rescues {rescues}, orphans swept {}, lost = {lost}, duplicated = {duplicated}, leaked = {leaked}, unexplained claims = {unexplained}, {:.1} s",
        killed_lessons.len(),
        swept.deleted,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0, "lost");
    assert_eq!(duplicated, 0, "duplicated");
    assert_eq!(leaked, 0, "leaked");
    assert_eq!(unexplained, 0, "every claim is accounted for");
    assert!(kills >= 3, "workers were killed during the run");
}
