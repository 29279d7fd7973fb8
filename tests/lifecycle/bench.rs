//! `antidoted bench lessons` end to end on a few livelessons: the real binary, its worker
//! in a child process, and the report it prints.

use sqlx::PgPool;

use super::helpers::database_url;

#[sqlx::test]
async fn bench_lessons_provisions_through_a_worker_process_and_reports_its_costs(pool: PgPool) {
    let url = database_url(&pool).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_antidoted"))
        .args([
            "bench",
            "lessons",
            "--livelessons",
            "5",
            "--database-url",
            &url,
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("the benchmark runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench lessons failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    assert_eq!(report["livelessons"], 5);
    let figure = |key: &str| report[key].as_f64().unwrap_or(-1.0);
    let objects = figure("objects_per_livelesson");
    // The worker's own list and watch of three kinds count too: 6 requests / 5 livelessons.
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
