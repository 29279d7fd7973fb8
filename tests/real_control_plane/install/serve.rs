//! `antidoted serve` in-cluster: every example lesson created and deleted over HTTP.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use antidote_scheduler::workflow::{CREATE, DELETE};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use sqlx::PgPool;

use crate::incluster::Pod;
use crate::lab::SCHEDULER_ACCOUNT;

use super::pods::*;
use super::render::*;
use super::*;

#[sqlx::test]
async fn real_control_plane_install_serve_pod_in_cluster_creates_and_deletes_every_example_lesson(
    pool: PgPool,
) {
    let test = "real_control_plane_install_serve_pod_in_cluster";
    let started = Instant::now();
    let Some(tools) = tools(test) else { return };
    if !crate::incluster::can_run_pods(test) {
        return;
    }
    let Some((mut lab, render)) = install_chart(pool, test, &tools, &[]).await else {
        return;
    };
    lab.start_agent().await;

    // The chart's pre-install hook first: `antidoted migrate` as its Job runs it, with no
    // token (its pod mounts none). `#[sqlx::test]` migrated the database already: the
    // run finds nothing to do, and shows the Job's arguments and environment suffice.
    let (job, _) = container(&lab, &render, "Job", &format!("{RELEASE}-migrate")).await;
    assert_eq!(job.args, ["migrate"]);
    assert!(
        job.service_account.is_none(),
        "the migrate Job has no token"
    );
    let mut migrate = Pod::start(
        &format!("{RELEASE}-migrate-0"),
        &job,
        &lab.plane,
        &lab.admin,
    )
    .await;
    let status = migrate.wait(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "migrate: {status}:\n{}",
        migrate.log_tail(40)
    );

    let (serve_container, port) = container(&lab, &render, "Deployment", RELEASE).await;
    assert_eq!(
        serve_container.args,
        ["serve", "--config", "/etc/antidote/antidote.yaml"]
    );
    assert_eq!(
        serve_container.service_account.as_deref(),
        Some(SCHEDULER_ACCOUNT)
    );
    let mut serve = Pod::start(
        &format!("{RELEASE}-0"),
        &serve_container,
        &lab.plane,
        &lab.admin,
    )
    .await;
    let exp = Exp::new(port);
    exp.wait_ready(&mut serve).await;
    serve.assert_arranged(&serve_container);

    let session = exp.session().await;
    let mut ids = Vec::new();
    for lesson in LESSONS {
        ids.push((lesson, exp.request(&session, lesson).await));
    }
    wait_all_ready(
        &exp,
        &lab,
        &ids,
        &mut [&mut serve],
        Duration::from_secs(240),
    )
    .await;
    let ready_at = started.elapsed();
    for (lesson, id) in &ids {
        let (_, body) = exp.show(id).await;
        assert_eq!(body["HealthyTests"], body["TotalTests"], "{lesson}: {body}");
    }
    assert!(
        job_states(&lab.pool, CREATE, &ids)
            .await
            .iter()
            .all(|s| s == "completed"),
        "every CREATE completed"
    );

    for (_, id) in &ids {
        exp.kill(id).await;
    }
    let mut pending: BTreeSet<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    wait_until(
        "every livelesson deleted",
        Duration::from_secs(240),
        &mut [&mut serve],
        async || {
            for id in pending.clone() {
                if exp.show(&id).await.0 == 404 {
                    pending.remove(&id);
                }
            }
            pending.is_empty()
        },
    )
    .await;
    let deletes = job_states(&lab.pool, DELETE, &ids).await;
    assert_eq!(deletes.len(), LESSONS.len(), "one DELETE each");
    assert!(
        deletes.iter().all(|s| s == "completed"),
        "DELETEs: {deletes:?}"
    );
    let left = Api::<Namespace>::all(lab.admin.clone())
        .list(&ListParams::default().labels("antidoteId=test"))
        .await
        .expect("namespaces listed");
    assert!(left.items.is_empty(), "every livelesson namespace is gone");

    let took = serve.stop().await;
    assert_jobs_finished(&lab.pool).await;
    let requests = assert_no_forbidden(&lab, &[&serve, &migrate]).await;
    eprintln!(
        "serve in-cluster: {} lessons READY at {ready_at:?}, deleted; {requests} requests \
         of the chart's ServiceAccount audited, none Forbidden; SIGTERM to exit {took:?}",
        LESSONS.len()
    );
}
