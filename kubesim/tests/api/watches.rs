//! Watches: ordered, resumable and bookmarked; 410 Expired from compacted history; and
//! kube-runtime's watcher over list-watch and streaming lists.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kubesim::{Config, KubeSim};
use serde_json::json;
use std::time::Duration;

use crate::{obj, start};

#[tokio::test]
async fn watch_is_ordered_resumable_and_bookmarks() {
    let sim = KubeSim::start(Config {
        seed: Some(1),
        bookmark_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await
    .unwrap();
    let client = sim.client().unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let a = cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "a"}})),
        )
        .await
        .unwrap();
    let rv = a.resource_version().unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "b"}})),
    )
    .await
    .unwrap();
    cms.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut bookmark = false;
    let mut modified_rv = String::new();
    while seen.len() < 3 || !bookmark {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.name_any())),
            WatchEvent::Modified(o) => {
                modified_rv = o.resource_version().unwrap();
                seen.push(format!("MODIFIED {}", o.name_any()));
            }
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.name_any())),
            WatchEvent::Bookmark(_) => bookmark = true,
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "MODIFIED b", "DELETED a"]);
    // Resume after the MODIFIED event: only the delete remains.
    let mut resumed = cms
        .watch(&WatchParams::default().disable_bookmarks(), &modified_rv)
        .await
        .unwrap()
        .boxed();
    match resumed.try_next().await.unwrap().unwrap() {
        WatchEvent::Deleted(o) => assert_eq!(o.name_any(), "a"),
        other => panic!("unexpected {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_from_compacted_history_is_gone() {
    let sim = KubeSim::start(Config {
        seed: Some(2),
        event_history: 16,
        ..Config::default()
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    for i in 0..40 {
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": format!("c{i}")}})),
        )
        .await
        .unwrap();
    }
    let mut s = cms
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected 410, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn kube_runtime_watcher_works_with_list_watch_and_streaming_lists() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "pre"}})),
    )
    .await
    .unwrap();
    for cfg in [
        watcher::Config::default().page_size(1),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut stream = watcher(cms.clone(), cfg).applied_objects().boxed();
        while stream.try_next().await.unwrap().unwrap().name_any() != "pre" {}
        let name = format!("post-{}", sim.store().current_rv());
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
        loop {
            let o = stream.try_next().await.unwrap().unwrap();
            if o.name_any() == name {
                break;
            }
        }
    }
    sim.shutdown().await;
}
