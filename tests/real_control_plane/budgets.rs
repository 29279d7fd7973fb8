//! Resource budgets on the real control plane: kube-apiserver's ResourceQuota admission
//! (counted by the real quota controller) lets a lesson within its budget reach READY and
//! refuses the pods of a lesson over it, which goes to ERROR at once naming the quota, in
//! the same words kubesim uses.

use std::time::{Duration, Instant};

use antidote_scheduler::backend::budget::{MIB, Size};
use antidote_scheduler::queue::WorkerEvent;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::CREATE;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use kube::Api;
use sqlx::PgPool;

use crate::helpers::{all_finished, start, trail, worker_config};
use crate::lab::Lab;

#[sqlx::test]
async fn real_control_plane_a_lab_within_its_budget_is_ready_and_one_over_it_fails_naming_the_quota(
    pool: PgPool,
) {
    let test = "real_control_plane_a_lab_within_its_budget_is_ready";
    let Some(mut lab) = Lab::start(pool, test).await else {
        return;
    };
    // One lesson gets a size that holds exactly one pod at the minimum share.
    let budgets = &mut lab.settings.budgets;
    budgets
        .sizes
        .insert("one-pod".into(), Size::new(100, 128 * MIB));
    budgets
        .lessons
        .insert("router-configuration".into(), "one-pod".into());
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);

    let session = lab.session().await;
    let started = Instant::now();
    let within = lab.request(&session, "linux-first-steps", 0).await.id;
    let over = lab.request(&session, "router-configuration", 0).await.id;
    let (within_job, over_job) = (lab.job(CREATE, &within).await, lab.job(CREATE, &over).await);
    let outcomes = all_finished(
        &mut events,
        &[within_job, over_job],
        Duration::from_secs(180),
    )
    .await;

    // Over budget: refused at admission, failed for good on its first attempt.
    let over_trail = trail(&lab.pool, over_job).await;
    assert_eq!(
        outcomes.get(&over_job),
        Some(&WorkerEvent::Failed(over_job)),
        "{over_trail}"
    );
    assert_eq!(
        over_trail.matches("claimed").count(),
        1,
        "not retried: {over_trail}"
    );
    let failed = lab.livelesson(&over).await.expect("livelesson");
    assert_eq!(failed.status, Status::Error);
    let error = failed.error.expect("recorded");
    assert!(
        error
            .step
            .as_deref()
            .is_some_and(|s| s.starts_with("endpoint:")),
        "{error:?}"
    );
    assert!(
        error.reason.contains(
            "is forbidden: exceeded quota: budget, requested: limits.cpu=100m,\
             limits.memory=128Mi,requests.cpu=100m,requests.memory=128Mi, used: \
             limits.cpu=100m,limits.memory=128Mi,requests.cpu=100m,requests.memory=128Mi, \
             limited: limits.cpu=100m,limits.memory=128Mi,requests.cpu=100m,\
             requests.memory=128Mi"
        ),
        "{}",
        error.reason
    );

    // Within budget: READY, with the quota (counted) and the limit range in its namespace.
    let ready = lab.livelesson(&within).await.expect("livelesson");
    assert_eq!(
        outcomes.get(&within_job),
        Some(&WorkerEvent::Completed(within_job)),
        "{:?}; {}",
        ready.error,
        trail(&lab.pool, within_job).await
    );
    assert_eq!(ready.status, Status::Ready);
    let namespace = lab.settings.namespace(&within);
    let quota = Api::<ResourceQuota>::namespaced(lab.admin.clone(), &namespace)
        .get("budget")
        .await
        .expect("the quota");
    let status = quota.status.expect("counted by the quota controller");
    assert_eq!(status.hard.expect("hard")["limits.memory"].0, "2Gi");
    let used = status.used.expect("used");
    assert_ne!(used["limits.cpu"].0, "0", "the endpoint pods are counted");
    Api::<LimitRange>::namespaced(lab.admin.clone(), &namespace)
        .get("budget")
        .await
        .expect("the limit range");
    eprintln!(
        "budgets on kube-apiserver: over-budget ERROR and within-budget READY in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let _ = stop.send(());
    handle.await.expect("worker");
}
