//! The `/exp` contract of antidote-core's HTTP gateway, over HTTP as the real front end
//! speaks it: one test per point of the drop-in issue, one per message of its field lists.
//!
//! The facts come from antidote-core's `api/exp/definitions/*.proto` and `api/exp/*.go`
//! (grpc-gateway v1, default marshaler: proto field names, zero values left out, errors as
//! `{"error", "code", "message"}`), and from what antidote-ui-components sends and reads.

use std::collections::BTreeSet;

use antidote_scheduler::api::settings::{ApiSettings, CorsOrigins};
use antidote_scheduler::config::Config;
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::store;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    CONTENT_TYPE,
};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::helpers::test_config;
use super::server::Server;

/// What a browser's `fetch` labels a string body.
const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";

/// The fields of each message, from the protos.
const LIVE_SESSION: &[&str] = &["ID", "SourceIP", "Persistent"];
const LIVE_LESSON: &[&str] = &[
    "ID",
    "SessionID",
    "AntidoteID",
    "LessonSlug",
    "LiveEndpoints",
    "CurrentStage",
    "GuideContents",
    "GuideType",
    "GuideDomain",
    "Status",
    "Error",
    "HealthyTests",
    "TotalTests",
    "Diagram",
    "Video",
    "StageVideo",
];
const LIVE_ENDPOINT: &[&str] = &[
    "Name",
    "Image",
    "Ports",
    "LivePresentations",
    "Host",
    "SSHUser",
    "SSHPassword",
];
const LIVE_PRESENTATION: &[&str] = &["Name", "Port", "Type", "HepDomain"];
const LESSON: &[&str] = &[
    "Slug",
    "Stages",
    "Name",
    "Endpoints",
    "Connections",
    "Authors",
    "Category",
    "Diagram",
    "Video",
    "Tier",
    "Prereqs",
    "Tags",
    "Collection",
    "Description",
    "ShortDescription",
    "LessonFile",
    "LessonDir",
    "ReadyDelay",
];
const COLLECTION: &[&str] = &[
    "Slug",
    "Title",
    "Image",
    "Website",
    "ContactEmail",
    "BriefDescription",
    "LongDescription",
    "Type",
    "Tier",
    "CollectionFile",
    "Lessons",
];
const CURRICULUM_INFO: &[&str] = &["Name", "Description", "Website", "AVer", "GitRoot"];

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// `value` has exactly the fields `present`, all of them fields of `message`.
#[track_caller]
fn has_fields(value: &Value, message: &[&str], present: &[&str]) {
    let found = keys(value);
    let allowed = set(message);
    let unknown: Vec<_> = found.difference(&allowed).collect();
    assert!(
        unknown.is_empty(),
        "fields not in the proto: {unknown:?} in {value}"
    );
    assert_eq!(found, set(present), "{value}");
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

async fn get(server: &Server, path: &str) -> Reply {
    reply(
        reqwest::get(server.url(path))
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}")),
    )
    .await
}

/// POSTs `body` as the front end does: a string, so `text/plain;charset=UTF-8`.
async fn post_text(server: &Server, path: &str, body: &str) -> Reply {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .header(CONTENT_TYPE, TEXT_PLAIN)
        .body(body.to_owned())
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST {path}: {err}"));
    reply(response).await
}

async fn session(server: &Server) -> String {
    let created = post_text(server, "/exp/livesession", "{}").await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.body["ID"].as_str().expect("ID").to_owned()
}

async fn request_lesson(server: &Server, session: &str, lesson: &str, stage: Value) -> Reply {
    let body = json!({ "lessonSlug": lesson, "lessonStage": stage, "sessionId": session });
    post_text(server, "/exp/livelesson", &body.to_string()).await
}

/// The gateway's error body: exactly `error`, `code`, `message`, the texts equal.
#[track_caller]
fn gateway_error(reply: &Reply, status: u16, code: i64) -> String {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        keys(&reply.body),
        set(&["error", "code", "message"]),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["code"], code, "{}", reply.text);
    let text = reply.body["error"].as_str().expect("error is text");
    assert_eq!(reply.body["message"], text);
    text.to_owned()
}

// ---- the numbered points -----------------------------------------------------

#[sqlx::test]
async fn item1_post_bodies_are_json_whatever_their_content_type(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let session = session(&server).await;
    let created = request_lesson(&server, &session, "linux-first-steps", json!(0)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["id"].as_str().map(str::len), Some(10));

    for not_json in ["lessonSlug=linux-first-steps", "{\"lessonSlug\": "] {
        let refused = post_text(&server, "/exp/livelesson", not_json).await;
        let text = gateway_error(&refused, 400, 3);
        assert!(text.contains("not JSON"), "{text}");
    }
    let refused = post_text(&server, "/exp/livesession", "<xml/>").await;
    gateway_error(&refused, 400, 3);
    server.stop().await;
}

#[sqlx::test]
async fn item2_a_null_lesson_stage_is_stage_zero(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let session = session(&server).await;
    let created = request_lesson(&server, &session, "router-configuration", Value::Null).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let ll = get(&server, &format!("/exp/livelesson/{id}")).await;
    assert_eq!(ll.status, 200, "{}", ll.text);
    // Stage 0: left out, as proto3 JSON leaves zero out.
    assert_eq!(ll.body.get("CurrentStage"), None, "{}", ll.text);
    // Asking again for stage 0 is the same livelesson, not a stage change.
    let again = request_lesson(&server, &session, "router-configuration", json!(0)).await;
    assert_eq!(again.body["id"], id.as_str(), "{}", again.text);
    server.stop().await;
}

#[sqlx::test]
async fn item3_lessons_collections_and_curriculum_use_the_proto_field_names(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let lessons = get(&server, "/exp/lesson").await;
    assert_eq!(lessons.status, 200, "{}", lessons.text);
    let slugs: Vec<&str> = lessons.body["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .map(|l| l["Slug"].as_str().expect("Slug"))
        .collect();
    assert_eq!(
        slugs,
        [
            "linux-first-steps",
            "notebook-automation",
            "router-configuration",
            "web-automation"
        ]
    );
    let lesson = get(&server, "/exp/lesson/router-configuration").await;
    assert_eq!(
        lesson.body["Stages"][1]["Description"],
        "Routing between the switches"
    );
    assert_eq!(lesson.body["Stages"][1]["GuideType"], "markdown");
    let collections = get(&server, "/exp/collection").await;
    assert_eq!(collections.body["collections"][0]["Title"], "Example Labs");
    let curriculum = get(&server, "/exp/curriculum").await;
    assert_eq!(
        curriculum.body["GitRoot"],
        "https://github.com/antidote-scheduler/antidote-scheduler"
    );
    server.stop().await;
}

#[sqlx::test]
async fn item4_prereqs_collection_page_antidoteinfo_and_the_health_check(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    // notebook-automation needs router-configuration, which needs linux-first-steps.
    let prereqs = get(&server, "/exp/lesson/notebook-automation/prereqs").await;
    assert_eq!(prereqs.status, 200, "{}", prereqs.text);
    assert_eq!(
        prereqs.body,
        json!({"prereqs": ["router-configuration", "linux-first-steps"]})
    );
    let none = get(&server, "/exp/lesson/linux-first-steps/prereqs").await;
    assert_eq!((none.status, none.body), (200, json!({})));

    let collection = get(&server, "/exp/collection/example-labs").await;
    assert_eq!(collection.status, 200, "{}", collection.text);
    let lessons: Vec<&str> = collection.body["Lessons"]
        .as_array()
        .expect("Lessons")
        .iter()
        .map(|l| l["Slug"].as_str().expect("Slug"))
        .collect();
    assert_eq!(
        lessons,
        [
            "linux-first-steps",
            "router-configuration",
            "web-automation"
        ]
    );
    let missing = get(&server, "/exp/collection/no-such-collection").await;
    gateway_error(&missing, 404, 5);

    let info = get(&server, "/exp/antidoteinfo").await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.body["buildVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info.body["curriculumVersion"], "latest");

    for path in ["/", "/anything"] {
        let health = get(&server, path).await;
        assert_eq!((health.status, health.text.as_str()), (200, "{}"), "{path}");
        assert_eq!(health.headers[CONTENT_TYPE], "application/json");
    }
    server.stop().await;
}

#[sqlx::test]
async fn item5_live_endpoints_carry_live_presentations(pool: PgPool) {
    let config = test_config();
    let server = Server::start(pool, config.clone()).await;
    let session = session(&server).await;
    let created = request_lesson(&server, &session, "web-automation", json!(0)).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let ll = get(&server, &format!("/exp/livelesson/{id}")).await;
    assert_eq!(ll.status, 200, "{}", ll.text);
    let web = &ll.body["LiveEndpoints"]["web"];
    assert_eq!(web.get("Presentations"), None, "{web}");
    let backend = &config.backend;
    assert_eq!(
        web["LivePresentations"],
        json!([{
            "Name": "site",
            "Port": 8080,
            "Type": "http",
            "HepDomain": format!("{}-{id}-web-site.{}", backend.instance_id, backend.heps_domain),
        }])
    );
    assert_eq!(
        ll.body["LiveEndpoints"]["linux1"]["LivePresentations"][0]["Type"],
        "ssh"
    );
    server.stop().await;
}

#[sqlx::test]
async fn item6_errors_are_the_gateways_body_with_the_invalid_session_contract(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let stale = request_lesson(&server, "zzzzzzzzzz", "linux-first-steps", json!(0)).await;
    let text = gateway_error(&stale, 400, 3);
    assert!(text.contains("Invalid session ID"), "{text}");

    let session = session(&server).await;
    let unknown = request_lesson(&server, &session, "no-such-lesson", json!(0)).await;
    gateway_error(&unknown, 404, 5);
    let out_of_range = request_lesson(&server, &session, "linux-first-steps", json!(5)).await;
    gateway_error(&out_of_range, 400, 3);
    let gone = get(&server, "/exp/livelesson/0123456789").await;
    gateway_error(&gone, 404, 5);
    server.stop().await;
}

#[sqlx::test]
async fn item7_a_failed_livelesson_is_an_error_the_learner_reads(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let session = session(&server).await;
    let created = request_lesson(&server, &session, "linux-first-steps", json!(0)).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    store::livelesson::set_error(
        &server.pool,
        &LivelessonId::from(id.as_str()),
        "wait_pods",
        "pod linux1: ImagePullBackOff",
        Some("registry said no"),
    )
    .await
    .expect("set error");

    let polled = get(&server, &format!("/exp/livelesson/{id}")).await;
    let text = gateway_error(&polled, 409, 9);
    assert!(
        text.contains("failed to start") && text.contains("try again"),
        "{text}"
    );
    assert!(
        !polled.text.contains("ImagePullBackOff") && !polled.text.contains("registry"),
        "{}",
        polled.text
    );
    // Reloading the lab page says the same.
    let reloaded = request_lesson(&server, &session, "linux-first-steps", json!(0)).await;
    assert_eq!(gateway_error(&reloaded, 409, 9), text);
    server.stop().await;
}

async fn preflight(server: &Server, origin: &str) -> Reply {
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/exp/livelesson"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .expect("preflight");
    reply(response).await
}

async fn get_from(server: &Server, origin: &str) -> Reply {
    let response = reqwest::Client::new()
        .get(server.url("/exp/lesson"))
        .header("Origin", origin)
        .send()
        .await
        .expect("GET with Origin");
    reply(response).await
}

fn allowed_origin(reply: &Reply) -> Option<&str> {
    reply
        .headers
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
}

fn with_origins(origins: CorsOrigins) -> Config {
    Config {
        api: ApiSettings {
            cors_origins: origins,
            web_root: None,
            ..ApiSettings::default()
        },
        ..test_config()
    }
}

#[sqlx::test]
async fn item8_cors_follows_the_cors_origins_setting(pool: PgPool) {
    let page = "http://127.0.0.1:8080";

    // "*": any origin is echoed and preflights are answered, as the original did.
    let any = Server::start(pool.clone(), with_origins(CorsOrigins::Any)).await;
    let answered = preflight(&any, page).await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(allowed_origin(&answered), Some(page));
    let methods = answered.headers[ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .expect("methods");
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = answered.headers[ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .expect("headers")
        .to_ascii_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("accept"),
        "{headers}"
    );
    assert_eq!(
        allowed_origin(&get_from(&any, "https://elsewhere.example").await),
        Some("https://elsewhere.example")
    );
    any.stop().await;

    // A list: those origins only.
    let listed = Server::start_without_curriculum(
        pool.clone(),
        with_origins(CorsOrigins::List(vec![page.into()])),
    )
    .await;
    assert_eq!(allowed_origin(&preflight(&listed, page).await), Some(page));
    assert_eq!(allowed_origin(&get_from(&listed, page).await), Some(page));
    assert_eq!(
        allowed_origin(&get_from(&listed, "https://elsewhere.example").await),
        None
    );
    listed.stop().await;

    // The default for `serve`: none.
    let closed = Server::start_without_curriculum(pool, test_config()).await;
    assert_eq!(allowed_origin(&get_from(&closed, page).await), None);
    assert_eq!(allowed_origin(&preflight(&closed, page).await), None);
    closed.stop().await;
}

// ---- the field lists, one message each ------------------------------------------------

#[sqlx::test]
async fn live_session_has_the_proto_fields(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let created = post_text(&server, "/exp/livesession", "{}").await;
    assert_eq!(created.status, 200, "{}", created.text);
    has_fields(&created.body, LIVE_SESSION, &["ID", "SourceIP"]);
    assert_eq!(created.body["SourceIP"], "127.0.0.1");
    server.stop().await;
}

/// A livelesson of router-configuration at stage 1, READY with its hosts known.
async fn ready_livelesson(server: &Server) -> Value {
    let session = session(server).await;
    let created = request_lesson(server, &session, "router-configuration", json!(1)).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let mut tx = server.pool.begin().await.expect("begin");
    let hosts: std::collections::BTreeMap<String, String> = [
        ("linux1".to_owned(), "127.0.0.11".to_owned()),
        ("vqfx-1".to_owned(), "127.0.0.12".to_owned()),
        ("vqfx-2".to_owned(), "127.0.0.13".to_owned()),
    ]
    .into();
    store::livelesson::set_hosts(&mut *tx, &LivelessonId::from(id.as_str()), &hosts)
        .await
        .expect("hosts");
    for endpoint in hosts.keys() {
        store::livelesson::set_reachable(&mut *tx, &LivelessonId::from(id.as_str()), endpoint)
            .await
            .expect("reachable");
    }
    store::livelesson::set_status(
        &mut *tx,
        &LivelessonId::from(id.as_str()),
        store::livelesson::Status::Ready,
    )
    .await
    .expect("status");
    tx.commit().await.expect("commit");
    let ll = get(server, &format!("/exp/livelesson/{id}")).await;
    assert_eq!(ll.status, 200, "{}", ll.text);
    ll.body
}

#[sqlx::test]
async fn live_lesson_has_the_proto_fields(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let ll = ready_livelesson(&server).await;
    has_fields(
        &ll,
        LIVE_LESSON,
        &[
            "ID",
            "SessionID",
            "AntidoteID",
            "LessonSlug",
            "LiveEndpoints",
            "CurrentStage",
            "GuideContents",
            "GuideType",
            "Status",
            "HealthyTests",
            "TotalTests",
        ],
    );
    assert_eq!(ll["AntidoteID"], test_config().backend.instance_id.as_str());
    assert_eq!(ll["CurrentStage"], 1);
    assert_eq!(ll["Status"], "READY");
    assert_eq!(
        (ll["HealthyTests"].clone(), ll["TotalTests"].clone()),
        (json!(3), json!(3))
    );
    server.stop().await;
}

#[sqlx::test]
async fn live_endpoint_has_the_proto_fields(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let ll = ready_livelesson(&server).await;
    let endpoints = ll["LiveEndpoints"].as_object().expect("a map by name");
    assert_eq!(
        endpoints.keys().map(String::as_str).collect::<Vec<_>>(),
        ["linux1", "vqfx-1", "vqfx-2"]
    );
    for (name, endpoint) in endpoints {
        has_fields(endpoint, LIVE_ENDPOINT, LIVE_ENDPOINT);
        assert_eq!(endpoint["Name"], name.as_str());
        for presentation in endpoint["LivePresentations"].as_array().expect("list") {
            // Every presentation has its host name, ssh ones included, as in the original.
            has_fields(presentation, LIVE_PRESENTATION, LIVE_PRESENTATION);
        }
    }
    let vqfx = &endpoints["vqfx-1"];
    assert_eq!(vqfx["Image"], "vqfx");
    assert_eq!(vqfx["Ports"], json!([22, 830]));
    assert_eq!(vqfx["Host"], "127.0.0.12");
    assert!(vqfx["SSHUser"].is_string() && vqfx["SSHPassword"].is_string());
    server.stop().await;
}

#[sqlx::test]
async fn lesson_has_the_proto_fields(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let lesson = get(&server, "/exp/lesson/router-configuration").await.body;
    has_fields(
        &lesson,
        LESSON,
        &[
            "Slug",
            "Stages",
            "Name",
            "Endpoints",
            "Connections",
            "Category",
            "Diagram",
            "Tier",
            "Prereqs",
            "Tags",
            "Collection",
            "Description",
            "ShortDescription",
            "ReadyDelay",
        ],
    );
    has_fields(
        &lesson["Stages"][0],
        &["Description", "GuideType", "StageVideo"],
        &["Description", "GuideType"],
    );
    let endpoint = &[
        "Name",
        "Image",
        "ConfigurationType",
        "AdditionalPorts",
        "Presentations",
        "Host",
    ];
    has_fields(
        &lesson["Endpoints"][0],
        endpoint,
        &["Name", "Image", "Presentations"],
    );
    has_fields(
        &lesson["Endpoints"][1],
        endpoint,
        &[
            "Name",
            "Image",
            "ConfigurationType",
            "AdditionalPorts",
            "Presentations",
        ],
    );
    assert_eq!(
        lesson["Endpoints"][1]["Presentations"],
        json!([{"Name": "cli", "Port": 22, "Type": "ssh"}])
    );
    // The proto's Connection has no subnet.
    assert_eq!(
        lesson["Connections"][0],
        json!({"A": "vqfx-1", "B": "vqfx-2"})
    );
    assert_eq!(lesson["ReadyDelay"], 1);
    let authored = get(&server, "/exp/lesson/linux-first-steps").await.body;
    has_fields(
        &authored["Authors"][0],
        &["Name", "Link"],
        &["Name", "Link"],
    );
    server.stop().await;
}

#[sqlx::test]
async fn collection_has_the_proto_fields(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let summary = [
        "Slug",
        "Title",
        "Image",
        "Website",
        "ContactEmail",
        "BriefDescription",
        "LongDescription",
        "Type",
        "Tier",
    ];
    let listed = get(&server, "/exp/collection").await.body;
    has_fields(&listed["collections"][0], COLLECTION, &summary);
    let page = get(&server, "/exp/collection/example-labs").await.body;
    let mut with_lessons = summary.to_vec();
    with_lessons.push("Lessons");
    has_fields(&page, COLLECTION, &with_lessons);
    assert_eq!(
        page["Lessons"][0],
        json!({
            "Slug": "linux-first-steps",
            "Name": "First Steps on Linux",
            "Description": "Open a terminal on a Linux host and look around.",
        })
    );
    server.stop().await;
}

#[sqlx::test]
async fn curriculum_info_has_the_proto_fields(pool: PgPool) {
    let server = Server::start(pool, test_config()).await;
    let info = get(&server, "/exp/curriculum").await;
    has_fields(&info.body, CURRICULUM_INFO, CURRICULUM_INFO);
    assert_eq!(info.body["AVer"], "0.7.0");
    server.stop().await;
}

// ---- the front end served from a web root ------------------------------------------

#[sqlx::test]
async fn a_web_root_is_served_at_the_root_with_the_api_under_acore(pool: PgPool) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<h1>home</h1>").expect("index");
    std::fs::create_dir(dir.path().join("labs")).expect("labs");
    std::fs::write(dir.path().join("labs/index.html"), "<h1>lab</h1>").expect("lab");
    let config = Config {
        api: ApiSettings {
            cors_origins: CorsOrigins::default(),
            web_root: Some(dir.path().to_path_buf()),
            ..ApiSettings::default()
        },
        ..test_config()
    };
    let server = Server::start(pool, config).await;

    assert_eq!(get(&server, "/").await.text, "<h1>home</h1>");
    let lab = get(&server, "/labs/?lessonSlug=linux-first-steps&lessonStage=0").await;
    assert_eq!((lab.status, lab.text.as_str()), (200, "<h1>lab</h1>"));
    assert_eq!(get(&server, "/no-such-page.html").await.status, 404);

    // The API, where the front end looks for it and where it always is.
    for prefix in ["/acore", ""] {
        let lessons = get(&server, &format!("{prefix}/exp/lesson")).await;
        assert_eq!(lessons.status, 200, "{prefix}: {}", lessons.text);
        assert_eq!(lessons.body["lessons"].as_array().map(Vec::len), Some(4));
    }
    let created = post_text(&server, "/acore/exp/livesession", "{}").await;
    assert_eq!(created.status, 200, "{}", created.text);
    let health = get(&server, "/acore/").await;
    assert_eq!((health.status, health.text.as_str()), (200, "{}"));
    let missing = get(&server, "/acore/exp/no/such/thing").await;
    gateway_error(&missing, 404, 5);
    server.stop().await;
}

#[sqlx::test]
async fn the_openapi_document_describes_exp_with_its_wire_names(pool: PgPool) {
    let server = Server::start_without_curriculum(pool, test_config()).await;
    let document = get(&server, "/openapi.json").await.body;
    let schemas = &document["components"]["schemas"];
    // The proto's fields, and ours: the place in line of a request waiting for capacity.
    let live_lesson: Vec<&str> = LIVE_LESSON.iter().copied().chain(["PlaceInLine"]).collect();
    for (schema, fields) in [
        ("LiveSession", LIVE_SESSION),
        ("LiveLesson", &live_lesson[..]),
        ("LiveEndpoint", LIVE_ENDPOINT),
        ("LivePresentation", LIVE_PRESENTATION),
        ("Lesson", LESSON),
        ("Collection", COLLECTION),
        ("CurriculumInfo", CURRICULUM_INFO),
        ("GatewayError", &["error", "code", "message"]),
    ] {
        let properties = &schemas[schema]["properties"];
        assert_eq!(keys(properties), set(fields), "{schema}: {properties}");
    }
    let request = &schemas["LiveLessonRequest"]["properties"];
    assert_eq!(
        keys(request),
        set(&["lessonSlug", "sessionId", "lessonStage"])
    );
    server.stop().await;
}
