//! Resource budgets on kubesim: a lab over its budget is refused by quota admission and
//! goes to ERROR at once, naming the quota, for the operator and for the learner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use antidote_scheduler::backend::budget::{MIB, Size};
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::gc;
use antidote_scheduler::queue::WorkerEvent;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::{CREATE, request};
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use kube::Api;
use sqlx::PgPool;

use super::helpers::{Lab, finished, job_settings, start, trail, worker_config};

#[sqlx::test]
async fn a_lab_over_its_budget_goes_to_error_at_once_naming_the_quota(pool: PgPool) {
    let lab = Lab::start(pool).await;
    // An operator's size holding exactly one pod at the minimum share, chosen for a lesson
    // of several endpoints: its second endpoint pod cannot fit.
    let mut settings = lab.settings.clone();
    let budgets = &mut settings.budgets;
    budgets
        .sizes
        .insert("one-pod".into(), Size::new(100, 128 * MIB));
    budgets
        .lessons
        .insert("router-configuration".into(), "one-pod".into());
    let backend = Arc::new(KubernetesBackend::new(lab.kube.clone(), settings.clone()));
    let registry = job_settings(settings.clone(), gc::Config::default())
        .registry(backend)
        .expect("registry");
    let worker = lab.worker_with(registry, worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);

    let session = lab.session().await;
    let started = Instant::now();
    let ll = lab.request(&session, "router-configuration", 0).await;
    let job = lab.job(CREATE, &ll.id).await;
    let outcome = finished(&mut events, job, Duration::from_secs(30)).await;
    let took = started.elapsed();
    let trail = trail(&lab.pool, job).await;
    assert_eq!(outcome, WorkerEvent::Failed(job), "{trail}");
    // Refused at admission, not after waiting out the pods' 20 s readiness timeout, and
    // never retried.
    assert!(took < Duration::from_secs(10), "took {took:?}: {trail}");
    assert_eq!(trail.matches("claimed").count(), 1, "{trail}");

    let failed = lab.livelesson(&ll.id).await.expect("livelesson");
    assert_eq!(failed.status, Status::Error);
    let error = failed.error.expect("the failure is recorded");
    assert!(
        error
            .step
            .as_deref()
            .is_some_and(|s| s.starts_with("endpoint:")),
        "{error:?}"
    );
    assert!(
        error.reason.contains("(ResourceQuota budget)")
            && error.reason.contains(
                "is forbidden: exceeded quota: budget, requested: limits.cpu=100m,\
                 limits.memory=128Mi,requests.cpu=100m,requests.memory=128Mi, used: \
                 limits.cpu=100m,limits.memory=128Mi,requests.cpu=100m,requests.memory=128Mi, \
                 limited: limits.cpu=100m,limits.memory=128Mi,requests.cpu=100m,\
                 requests.memory=128Mi"
            ),
        "{}",
        error.reason
    );

    // The learner is told why, with the quota's name.
    let refused = request::request_livelesson(
        &lab.pool,
        &lab.queue,
        &settings,
        request::Limits::default(),
        &session,
        "router-configuration",
        0,
    )
    .await
    .expect_err("a failed lab is refused");
    let message = refused.to_string();
    assert!(
        message.starts_with("Sorry, this lab needs more than its resource budget allows")
            && message.contains("exceeded quota: budget, requested:"),
        "{message}"
    );

    // The budget was in the namespace before the pods.
    let namespace = settings.namespace(&ll.id);
    let quota = Api::<ResourceQuota>::namespaced(lab.kube.clone(), &namespace)
        .get("budget")
        .await
        .expect("quota");
    let hard = quota.spec.and_then(|s| s.hard).expect("hard");
    assert_eq!(hard["limits.cpu"].0, "100m");
    Api::<LimitRange>::namespaced(lab.kube.clone(), &namespace)
        .get("budget")
        .await
        .expect("limit range");

    let _ = stop.send(());
    handle.await.expect("worker");
}
