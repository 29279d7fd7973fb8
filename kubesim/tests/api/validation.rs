//! Validation: every name and label rule ported from Kubernetes accepts and rejects what
//! the real API server does, naming the field of the cause.

use serde_json::{Value, json};

use crate::{raw, start};

/// Every ported rule: (resource path, body, expect valid, field of the cause).
#[tokio::test]
async fn ported_name_and_label_rules() {
    let (sim, client) = start().await;
    let long63 = "a".repeat(63);
    let long64 = "a".repeat(64);
    let ns_path = "/api/v1/namespaces";
    let cm_path = "/api/v1/namespaces/default/configmaps";
    let svc_path = "/api/v1/namespaces/default/services";
    let svc = |n: &str| json!({"metadata": {"name": n}, "spec": {"ports": [{"port": 80}]}});
    let cm = |n: &str| json!({"metadata": {"name": n}});
    let cml = |k: &str, v: &str| json!({"metadata": {"generateName": "l-", "labels": {k: v}}});
    let cases: Vec<(&str, Value, bool, &str)> = vec![
        // IsDNS1123Label for namespaces
        (ns_path, cm("ok-ns1"), true, ""),
        (ns_path, cm(&long63), true, ""),
        (ns_path, cm(&long64), false, "metadata.name"),
        (ns_path, cm("Upper"), false, "metadata.name"),
        (ns_path, cm("dot.ted"), false, "metadata.name"),
        (ns_path, cm("-lead"), false, "metadata.name"),
        (ns_path, cm("trail-"), false, "metadata.name"),
        // IsDNS1035Label for services
        (svc_path, svc("svc-1"), true, ""),
        (svc_path, svc("1svc"), false, "metadata.name"),
        (svc_path, svc("a.b"), false, "metadata.name"),
        (svc_path, svc(&long64), false, "metadata.name"),
        // IsDNS1123Subdomain for most objects
        (cm_path, cm("a.b-c.d"), true, ""),
        (cm_path, cm("1abc"), true, ""),
        (cm_path, cm("a..b"), false, "metadata.name"),
        (cm_path, cm("under_score"), false, "metadata.name"),
        (cm_path, cm(&"a".repeat(254)), false, "metadata.name"),
        // IsQualifiedName for label keys
        (cm_path, cml("example.com/My_key.x", "v"), true, ""),
        (cm_path, cml("bad/key/x", "v"), false, "metadata.labels"),
        (cm_path, cml("-bad", "v"), false, "metadata.labels"),
        (cm_path, cml(&long64, "v"), false, "metadata.labels"),
        (cm_path, cml("Bad_Prefix/k", "v"), false, "metadata.labels"),
        (cm_path, cml("/k", "v"), false, "metadata.labels"),
        // IsValidLabelValue
        (cm_path, cml("k", ""), true, ""),
        (cm_path, cml("k", "Ok_v.1"), true, ""),
        (cm_path, cml("k", "-v"), false, "metadata.labels"),
        (cm_path, cml("k", "v-"), false, "metadata.labels"),
        (cm_path, cml("k", &long64), false, "metadata.labels"),
        (cm_path, cml("k", "sp ace"), false, "metadata.labels"),
        // IsConfigMapKey
        (
            cm_path,
            json!({"metadata": {"generateName": "k-"}, "data": {"bad key": "v"}}),
            false,
            "data[bad key]",
        ),
    ];
    for (path, body, valid, field) in cases {
        let (code, resp) = raw(
            &client,
            "POST",
            path,
            Some(body.clone()),
            "application/json",
        )
        .await;
        if valid {
            assert_eq!(code, 201, "{body} should be valid: {resp}");
        } else {
            assert_eq!(code, 422, "{body} should be invalid: {resp}");
            assert_eq!(resp["reason"], "Invalid");
            let causes = resp["details"]["causes"].as_array().unwrap();
            assert!(causes.iter().any(|c| c["field"] == field), "{body}: {resp}");
        }
    }
    sim.shutdown().await;
}
