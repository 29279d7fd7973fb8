//! `antidoted bench lessons` end to end on a few livelessons: the real binary, its worker
//! in a child process, and the report it prints.

use sqlx::PgPool;

use super::helpers::database_url;

/// Runs `antidoted bench <args>` to its end; fails with its output unless it succeeds.
/// Its report: the JSON of its last line.
async fn bench(args: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_antidoted"))
        .arg("bench")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("the benchmark runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {} failed: {}\n{stdout}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON")
}

#[sqlx::test]
async fn bench_lessons_provisions_through_a_worker_process_and_reports_its_costs(pool: PgPool) {
    let url = database_url(&pool).await;
    let report = bench(&["lessons", "--livelessons", "5", "--database-url", &url]).await;
    assert_eq!(report["livelessons"], 5);
    let figure = |key: &str| report[key].as_f64().unwrap_or(-1.0);
    let objects = figure("objects_per_livelesson");
    // The worker's own list and watch of three kinds count too (6 requests / 5 livelessons),
    // and its reads of each budget quota until the quota controller counted it.
    assert!(
        (objects..=objects + 5.0).contains(&figure("k8s_requests_per_livelesson")),
        "{report}"
    );
    // Read from the child's /proc entry, so it is the worker's and cannot be zero.
    assert!(figure("peak_rss_mb") > 0.0, "{report}");
    for sender in ["requests", "worker"] {
        assert!(
            report["db_statements_by_sender"][sender].as_f64() > Some(1.0),
            "{report}"
        );
    }
    let ready: i64 = sqlx::query_scalar("select count(*) from livelessons where status = 'READY'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(ready, 5);
}

#[sqlx::test]
async fn bench_compare_runs_antidoted_on_fresh_databases_and_skips_absent_peers(pool: PgPool) {
    // The name prefixes each run's database; the test database's own name is too long.
    let test_database = database_url(&pool).await;
    let server = test_database.rsplit_once('/').expect("a database path").0;
    let prefix = format!("cmp{}", std::process::id());
    let url = format!("{server}/{prefix}");
    let absent = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_antidoted"))
        .args(["bench", "compare", "--database-url", &url])
        .args(["--peers", "antidoted,graphile_rs,graphile_node"])
        .args(["--rounds", "2", "--jobs", "300", "--workflows", "30"])
        .args(["--latency-samples", "5", "--single-jobs", "20"])
        .arg("--peers-dir")
        .arg(absent.path().join("peers"))
        .arg("--work-dir")
        .arg(absent.path().join("work"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("the comparison runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench compare failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    let rounds = report["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2);
    // The order rotates: antidoted first in round 1, last in round 2.
    let order = |round: &serde_json::Value| -> Vec<String> {
        round["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| r["peer"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        order(&rounds[0]),
        ["antidoted", "graphile_rs", "graphile_node"]
    );
    assert_eq!(
        order(&rounds[1]),
        ["graphile_rs", "graphile_node", "antidoted"]
    );
    for round in rounds {
        for run in round["runs"].as_array().expect("runs") {
            let status = run["status"].as_str().unwrap_or_default();
            if run["peer"] == "antidoted" {
                assert_eq!(status, "ran", "{run}");
                assert!(run["jobs_per_s"].as_f64() > Some(0.0), "{run}");
                assert!(run["workflows_per_s"].as_f64() > Some(0.0), "{run}");
                assert!(run["latency_ms_p50"].as_f64() > Some(0.0), "{run}");
                assert_eq!(run["jobs"], 300);
                assert_eq!(run["load_before"].as_array().map(Vec::len), Some(3));
            } else {
                assert_eq!(status, "skipped", "{run}");
                assert!(
                    run["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("no harness"),
                    "{run}"
                );
            }
        }
        assert_eq!(round["ratios"], serde_json::json!([]));
    }
    assert!(stdout.contains("skipped: no harness at"), "{stdout}");
    // Each run's database is dropped afterwards.
    let left: i64 = sqlx::query_scalar("select count(*) from pg_database where datname like $1")
        .bind(format!("{prefix}\\_%"))
        .fetch_one(&pool)
        .await
        .expect("databases");
    assert_eq!(left, 0);
}

#[sqlx::test]
async fn bench_class_brings_every_learner_to_ready_through_api_and_worker_processes(pool: PgPool) {
    let url = database_url(&pool).await;
    let report = bench(&[
        "class",
        "--learners",
        "12",
        "--arrival-s",
        "1",
        "--pod-start-latency-secs",
        "0.2",
        "--hold-secs",
        "0.2",
        "--database-url",
        &url,
    ])
    .await;
    // Every learner READY, at stage 0 and again at stage 1 (router-configuration has two).
    assert_eq!(report["learners"], 12, "{report}");
    assert_eq!(report["ready"], 12, "{report}");
    assert_eq!(report["stage_ready"], 12, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    // Pools sized for the class: one spare a learner at most.
    let spares = report["spares"].as_u64().expect("spares");
    assert!((1..=12).contains(&spares), "{report}");
    // Each learner polled, changed stage and killed its lab through the API.
    for route in [
        "POST /exp/livesession",
        "POST /exp/livelesson",
        "GET /exp/livelesson/{id}",
        "DELETE /exp/livelesson/{id}",
    ] {
        assert!(
            report["routes"][route]["requests"].as_u64() >= Some(12),
            "{route}: {report}"
        );
    }
    // Read from the children's /proc entries: the API's and the worker's own.
    for key in ["api_peak_rss_mb", "worker_peak_rss_mb"] {
        assert!(report[key].as_f64() > Some(0.0), "{key}: {report}");
    }
    let killed: i64 =
        sqlx::query_scalar("select count(*) from livelessons where not spare and not deleting")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(killed, 0, "every learner's lab is killed or being deleted");
}
