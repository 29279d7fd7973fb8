//! Least privilege, both ways, against the real authorizer: with only `deploy/`'s
//! ClusterRole, the scheduler's ServiceAccount runs CREATE (first and replayed), a failing
//! CREATE (pod logs kept), MODIFY, an orphan sweep, a reconciliation and DELETE without a
//! single Forbidden, and the audit log shows every grant of the role in use; with any one
//! rule of the role removed, at least one of those operations fails.

use std::collections::BTreeSet;
use std::time::Duration;

use antidote_scheduler::gc;
use antidote_scheduler::queue::{JobId, NewJob, WorkerEvent};
use antidote_scheduler::workflow::{self, CREATE, DELETE, MODIFY, request};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kubesim::Behaviour;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::broadcast;

use crate::helpers::{all_finished, start, trail, worker_config};
use crate::lab::{Lab, SCHEDULER_ACCOUNT, SCHEDULER_NAMESPACE, deploy_cluster_role};

/// The scheduler's user name as the API server sees its token.
fn scheduler_user() -> String {
    format!("system:serviceaccount:{SCHEDULER_NAMESPACE}:{SCHEDULER_ACCOUNT}")
}

/// (verb, group, resource) of every grant of `rules`.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    out.insert((verb.clone(), group.clone(), resource.clone()));
                }
            }
        }
    }
    out
}

/// Runs every operation of the scheduler in turn and stops at the first that fails;
/// `Err` names it. Livelesson ids are fresh on each run.
async fn operations(lab: &Lab, round: &str) -> Result<(), String> {
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let outcome = run_operations(lab, round, &mut events).await;
    let _ = stop.send(());
    handle.await.expect("worker");
    outcome
}

async fn completed(
    lab: &Lab,
    events: &mut broadcast::Receiver<WorkerEvent>,
    jobs: &[JobId],
    what: &str,
    within: Duration,
) -> Result<(), String> {
    let outcomes = all_finished(events, jobs, within).await;
    for job in jobs {
        if outcomes.get(job) != Some(&WorkerEvent::Completed(*job)) {
            return Err(format!(
                "{what}: job {job}: {}",
                trail(&lab.pool, *job).await
            ));
        }
    }
    Ok(())
}

async fn run_operations(
    lab: &Lab,
    round: &str,
    events: &mut broadcast::Receiver<WorkerEvent>,
) -> Result<(), String> {
    let session = lab.session().await;
    let mut ids = Vec::new();
    for lesson in [
        "router-configuration",
        "web-automation",
        "notebook-automation",
        "linux-first-steps",
    ] {
        ids.push(lab.request(&session, lesson, 0).await.id);
    }
    let mut creates = Vec::new();
    for id in &ids {
        creates.push(lab.job(CREATE, id).await);
    }
    completed(lab, events, &creates, "CREATE", Duration::from_secs(120)).await?;

    // CREATE again from scratch, as after a crash between a side effect and its
    // checkpoint: every create meets AlreadyExists and reads its object back.
    let mut replays = Vec::new();
    for id in &ids {
        let job = NewJob::new(CREATE, json!({ "livelesson": id, "stage": 0 }))
            .with_serial_key(workflow::serial_key(id));
        replays.push(lab.queue.enqueue(&job).await.expect("enqueue").id);
    }
    completed(
        lab,
        events,
        &replays,
        "replayed CREATE",
        Duration::from_secs(120),
    )
    .await?;

    // A configuration job started twice (a crash between creating it and the checkpoint):
    // the second create meets AlreadyExists and reads the job back.
    let row = lab.livelesson(&ids[0]).await.expect("router-configuration");
    crate::helpers::start_config_jobs_again(&lab.pool, &lab.backend(), &row)
        .await
        .map_err(|e| format!("starting existing configuration jobs again: {e}"))?;

    // A pod that crashes: the CREATE fails, and the failure keeps the pod's logs.
    lab.knobs
        .set_image_behaviour("*utility*", Behaviour::CrashLoop);
    // A session of its own: a session has one livelesson per lesson.
    let crashing = lab
        .request(&lab.session().await, "linux-first-steps", 0)
        .await
        .id;
    let job = lab.job(CREATE, crashing.as_str()).await;
    let outcomes = all_finished(events, &[job], Duration::from_secs(60)).await;
    lab.knobs.clear_behaviours();
    let error = lab
        .livelesson(&crashing)
        .await
        .and_then(|ll| ll.error)
        .map(|e| format!("{}: {}", e.reason, e.logs.unwrap_or_default()))
        .unwrap_or_default();
    if outcomes.get(&job) != Some(&WorkerEvent::Failed(job)) || !error.contains("simulated crash") {
        return Err(format!(
            "a crashing CREATE did not fail with the pod's logs: {:?}: {error}; {}",
            outcomes.get(&job),
            trail(&lab.pool, job).await
        ));
    }
    ids.push(crashing);

    lab.request(&session, "router-configuration", 1).await;
    let modify = lab.job(MODIFY, ids[0].as_str()).await;
    completed(lab, events, &[modify], "MODIFY", Duration::from_secs(120)).await?;

    // An orphan: a namespace of this instance whose livelesson the store does not know.
    let orphan_id = format!("orphan{round}");
    let orphan = format!("test-{orphan_id}");
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {
        "name": orphan,
        "labels": {"antidoteManaged": "yes", "antidoteId": "test", "liveLesson": orphan_id},
    }}))
    .expect("namespace");
    Api::<Namespace>::all(lab.admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("orphan created");
    let gc_config = gc::Config {
        orphan_grace: Duration::ZERO,
        ..gc::Config::default()
    };
    let backend = lab.backend();
    let swept = gc::orphans::run_once(&lab.pool, &backend, &gc_config)
        .await
        .map_err(|e| format!("orphan sweep: {e}"))?;
    let orphan_left = Api::<Namespace>::all(lab.admin.clone())
        .get_opt(&orphan)
        .await
        .expect("orphan read");
    if swept.failed != 0 || orphan_left.is_some_and(|ns| ns.metadata.deletion_timestamp.is_none()) {
        return Err(format!("orphan sweep: {swept:?}, {orphan} still there"));
    }

    // Reconciliation notices a namespace deleted behind the scheduler's back.
    let gone = format!("test-{}", ids[3]);
    let namespaces: Api<Namespace> = Api::all(lab.admin.clone());
    let uid = namespaces
        .get(&gone)
        .await
        .expect("namespace")
        .metadata
        .uid
        .unwrap_or_default();
    namespaces
        .delete(&gone, &DeleteParams::default())
        .await
        .expect("deleted");
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(namespaces, &gone, conditions::is_deleted(&uid)),
    )
    .await
    .map_err(|_| format!("namespace {gone} was not removed in time"))?
    .map_err(|e| format!("watching {gone}: {e}"))?;
    let reconciled = gc::reconcile::run_once(&lab.pool, &backend, &gc_config)
        .await
        .map_err(|e| format!("reconciliation: {e}"))?;
    let marked = lab.livelesson(&ids[3]).await.map(|ll| ll.status);
    if reconciled.failed != 0
        || marked != Some(antidote_scheduler::store::livelesson::Status::Error)
    {
        return Err(format!(
            "reconciliation: {reconciled:?}, livelesson {marked:?}"
        ));
    }

    let mut deletes = Vec::new();
    for id in &ids {
        request::kill(&lab.pool, &lab.queue, id)
            .await
            .expect("kill");
        deletes.push(lab.job(DELETE, id).await);
    }
    completed(lab, events, &deletes, "DELETE", Duration::from_secs(120)).await
}

/// Replaces the ClusterRole's rules and waits until the authorizer answers accordingly
/// for `probe` (allowed or not).
async fn set_rules(
    lab: &Lab,
    rules: Vec<PolicyRule>,
    probe: &(String, String, String),
    allowed: bool,
) {
    let roles: Api<ClusterRole> = Api::all(lab.admin.clone());
    let mut role = roles.get(SCHEDULER_ACCOUNT).await.expect("role");
    role.rules = Some(rules);
    roles
        .replace(SCHEDULER_ACCOUNT, &PostParams::default(), &role)
        .await
        .expect("role replaced");
    let reviews: Api<SubjectAccessReview> = Api::all(lab.admin.clone());
    let (verb, group, resource) = probe;
    let (resource, subresource) = resource
        .split_once('/')
        .map_or((resource.as_str(), None), |(r, s)| (r, Some(s)));
    let review: SubjectAccessReview = serde_json::from_value(json!({"spec": {
        "user": scheduler_user(),
        "groups": ["system:serviceaccounts", "system:authenticated"],
        "resourceAttributes": {
            "verb": verb, "group": group, "resource": resource, "subresource": subresource,
            "namespace": "test-anything",
        },
    }}))
    .expect("review");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .expect("access review");
        if answer.status.is_some_and(|s| s.allowed == allowed) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the authorizer did not take the role change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test]
async fn real_control_plane_the_cluster_role_grants_exactly_what_the_scheduler_needs(pool: PgPool) {
    let test = "real_control_plane_the_cluster_role_grants_exactly";
    let Some(lab) = Lab::start(pool, test).await else {
        return;
    };
    let role = deploy_cluster_role();
    let rules = role.rules.clone().unwrap_or_default();
    let granted = grants(&rules);
    let user = scheduler_user();

    // With the whole role: everything works, nothing is refused, every grant is used.
    operations(&lab, "all")
        .await
        .expect("every operation with deploy/'s ClusterRole");
    let audited: Vec<_> = lab
        .plane
        .audit()
        .into_iter()
        .filter(|a| a.user == user)
        .collect();
    let refused: Vec<_> = audited.iter().filter(|a| a.code == 403).collect();
    assert!(
        refused.is_empty(),
        "Forbidden with the whole role: {refused:?}"
    );
    let used: BTreeSet<(String, String, String)> = audited
        .iter()
        .filter(|a| a.code < 400 || a.code == 404 || a.code == 409)
        .map(|a| (a.verb.clone(), a.group.clone(), a.resource.clone()))
        .collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
    let ungranted: Vec<_> = used.difference(&granted).collect();
    assert!(ungranted.is_empty(), "used without a grant: {ungranted:?}");

    // Without any one rule: something fails, refused by the authorizer.
    for (index, rule) in rules.iter().enumerate() {
        let mut fewer = rules.clone();
        fewer.remove(index);
        let probe = grants(std::slice::from_ref(rule))
            .into_iter()
            .next()
            .expect("a rule grants something");
        set_rules(&lab, fewer, &probe, false).await;
        let before = lab.plane.audit().len();
        let outcome = operations(&lab, &format!("r{index}")).await;
        let refusals: Vec<_> = lab.plane.audit()[before..]
            .iter()
            .filter(|a| a.user == user && a.code == 403)
            .cloned()
            .collect();
        assert!(
            outcome.is_err(),
            "without rule {index} ({:?} on {:?}) every operation still worked",
            rule.verbs,
            rule.resources
        );
        assert!(
            !refusals.is_empty(),
            "without rule {index} something failed ({outcome:?}), but nothing was Forbidden"
        );
        let failure = outcome.err().unwrap_or_default();
        eprintln!(
            "without rule {index} ({:?} on {:?}): {} Forbidden; {}",
            rule.verbs,
            rule.resources,
            refusals.len(),
            failure.chars().take(160).collect::<String>()
        );
        set_rules(&lab, rules.clone(), &probe, true).await;
    }
}
