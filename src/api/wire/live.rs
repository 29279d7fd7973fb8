//! Sessions and livelessons on the wire (`livesession.proto`, `livelesson.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{is_false, is_zero};
use crate::store::livelesson::Livelesson;
use crate::store::livesession::Livesession;

/// `LiveSession`: what `POST /exp/livesession` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveSession {
    /// `[a-z0-9]{10}`.
    #[serde(rename = "ID", skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The client's address as the session limit counts it.
    #[serde(rename = "SourceIP", skip_serializing_if = "String::is_empty")]
    pub source_ip: String,
    /// Exempt from livelesson expiry (set by operators only).
    #[serde(rename = "Persistent", skip_serializing_if = "is_false")]
    pub persistent: bool,
}

impl From<Livesession> for LiveSession {
    fn from(session: Livesession) -> Self {
        Self {
            id: session.id.into(),
            source_ip: session.source_ip.unwrap_or_default(),
            persistent: session.persistent,
        }
    }
}

/// `LiveLessonRequest`: the body of `POST /exp/livelesson`. As with the gateway, a field
/// that is absent or `null` takes its zero value (so a `null` `lessonStage`, which the
/// front end sends when its page URL has none, is stage 0) and unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub struct LiveLessonRequest {
    /// Lesson slug.
    #[serde(rename = "lessonSlug", default, deserialize_with = "null_as_default")]
    pub lesson_slug: String,
    /// Session id from `POST /exp/livesession`.
    #[serde(rename = "sessionId", default, deserialize_with = "null_as_default")]
    pub session_id: String,
    /// 0-based stage: a number, a string holding one (as protobuf JSON allows), or `null`.
    #[serde(rename = "lessonStage", default, deserialize_with = "stage")]
    #[schema(value_type = Option<i32>)]
    pub lesson_stage: i64,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn stage<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stage {
        Number(i64),
        Text(String),
    }
    match Option::<Stage>::deserialize(deserializer) {
        Ok(None) => Ok(0),
        Ok(Some(Stage::Number(n))) => Ok(n),
        Ok(Some(Stage::Text(text))) => text.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("lessonStage {text:?} is not an integer"))
        }),
        // The untagged enum's own message ("did not match any variant") names nothing.
        Err(_) => Err(serde::de::Error::custom(
            "lessonStage must be an integer, a string holding one, or null",
        )),
    }
}

/// `LiveLessonId`: what `POST /exp/livelesson` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveLessonId {
    /// `[a-z0-9]{10}`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
}

/// `LivePresentation`: one way to reach an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LivePresentation {
    /// Presentation name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Port.
    #[serde(rename = "Port", skip_serializing_if = "is_zero")]
    pub port: i32,
    /// `ssh` (a terminal tab) or `http` (a web tab).
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Ingress host of an http presentation.
    #[serde(rename = "HepDomain", skip_serializing_if = "String::is_empty")]
    pub hep_domain: String,
}

/// `LiveEndpoint`: an endpoint of a livelesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveEndpoint {
    /// Endpoint name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Image slug.
    #[serde(rename = "Image", skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Presentation ports, then additional ports.
    #[serde(rename = "Ports", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<i32>,
    /// Presentations, read by the front end to make its tabs.
    #[serde(rename = "LivePresentations", skip_serializing_if = "Vec::is_empty")]
    pub live_presentations: Vec<LivePresentation>,
    /// Service address once known.
    #[serde(rename = "Host", skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Login for the web terminal (from the image definition).
    #[serde(rename = "SSHUser", skip_serializing_if = "String::is_empty")]
    pub ssh_user: String,
    /// Password for the web terminal: the learner's terminal logs in with it, as in the
    /// original. Never logged.
    #[serde(rename = "SSHPassword", skip_serializing_if = "String::is_empty")]
    pub ssh_password: String,
}

/// `LiveLesson`: what `GET /exp/livelesson/{id}` answers while the livelesson is not in
/// ERROR (an errored one is answered with an error, as the original did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveLesson {
    /// Id.
    #[serde(rename = "ID", skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Session.
    #[serde(rename = "SessionID", skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// The scheduler's instance id.
    #[serde(rename = "AntidoteID", skip_serializing_if = "String::is_empty")]
    pub antidote_id: String,
    /// Lesson slug.
    #[serde(rename = "LessonSlug", skip_serializing_if = "String::is_empty")]
    pub lesson_slug: String,
    /// Endpoints by name.
    #[serde(rename = "LiveEndpoints", skip_serializing_if = "BTreeMap::is_empty")]
    pub live_endpoints: BTreeMap<String, LiveEndpoint>,
    /// 0-based stage.
    #[serde(rename = "CurrentStage", skip_serializing_if = "is_zero")]
    pub current_stage: i32,
    /// Guide of the current stage (markdown text, or the notebook for jupyter).
    #[serde(rename = "GuideContents", skip_serializing_if = "String::is_empty")]
    pub guide_contents: String,
    /// `markdown` or `jupyter`.
    #[serde(rename = "GuideType", skip_serializing_if = "String::is_empty")]
    pub guide_type: String,
    /// Jupyter guide host.
    #[serde(rename = "GuideDomain", skip_serializing_if = "String::is_empty")]
    pub guide_domain: String,
    /// INITIALIZED, BOOTING, CONFIGURATION or READY.
    #[serde(rename = "Status", skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Failed (never true here: a failed livelesson is answered with an error).
    #[serde(rename = "Error", skip_serializing_if = "is_false")]
    pub error: bool,
    /// Endpoints found reachable.
    #[serde(rename = "HealthyTests", skip_serializing_if = "is_zero")]
    pub healthy_tests: i32,
    /// Endpoints to reach.
    #[serde(rename = "TotalTests", skip_serializing_if = "is_zero")]
    pub total_tests: i32,
    /// In the proto, never filled by the original (the front end reads the lesson's).
    #[serde(rename = "Diagram", skip_serializing_if = "String::is_empty")]
    pub diagram: String,
    /// In the proto, never filled by the original (the front end reads the lesson's).
    #[serde(rename = "Video", skip_serializing_if = "String::is_empty")]
    pub video: String,
    /// In the proto, never filled by the original (the front end reads the lesson's).
    #[serde(rename = "StageVideo", skip_serializing_if = "String::is_empty")]
    pub stage_video: String,
    /// Ours: the request's place in line while it waits for capacity (1 is next); absent
    /// otherwise. The original front end ignores it and shows INITIALIZED.
    #[serde(rename = "PlaceInLine", skip_serializing_if = "Option::is_none")]
    pub place_in_line: Option<i64>,
}

impl LiveLesson {
    /// The wire form of `ll`, run by scheduler instance `antidote_id`.
    pub fn new(ll: Livelesson, antidote_id: &str) -> Self {
        let images = &ll.images;
        let live_endpoints = ll
            .endpoints
            .into_iter()
            .map(|ep| {
                let image = images.get(&ep.image);
                let endpoint = LiveEndpoint {
                    ssh_user: image.map(|i| i.ssh_user.clone()).unwrap_or_default(),
                    ssh_password: image
                        .map(|i| i.ssh_password.expose().to_owned())
                        .unwrap_or_default(),
                    name: ep.name.clone(),
                    image: ep.image,
                    ports: ep.ports,
                    live_presentations: ep
                        .presentations
                        .into_iter()
                        .map(|p| LivePresentation {
                            name: p.name,
                            port: i32::from(p.port),
                            kind: p.kind.as_str().to_owned(),
                            hep_domain: p.hep_domain,
                        })
                        .collect(),
                    host: ep.host.unwrap_or_default(),
                };
                (ep.name, endpoint)
            })
            .collect();
        Self {
            id: ll.id.into(),
            session_id: ll.session_id.into(),
            antidote_id: antidote_id.to_owned(),
            lesson_slug: ll.lesson_slug,
            live_endpoints,
            current_stage: ll.current_stage,
            guide_contents: ll.guide_contents,
            guide_type: ll.guide_type.as_str().to_owned(),
            guide_domain: ll.guide_domain,
            status: ll.status.as_str().to_owned(),
            error: ll.error.is_some(),
            healthy_tests: ll.healthy_tests,
            total_tests: ll.total_tests,
            diagram: String::new(),
            video: String::new(),
            stage_video: String::new(),
            place_in_line: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<LiveLessonRequest, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_null_or_missing_stage_is_stage_zero() {
        let body = request(r#"{"lessonSlug":"a","sessionId":"b","lessonStage":null}"#);
        assert_eq!(body.expect("null stage").lesson_stage, 0);
        assert_eq!(
            request(r#"{"lessonSlug":"a"}"#)
                .expect("missing")
                .lesson_stage,
            0
        );
        assert_eq!(
            request(r#"{"lessonStage":"2"}"#)
                .expect("text")
                .lesson_stage,
            2
        );
        assert_eq!(
            request(r#"{"lessonStage":3}"#)
                .expect("number")
                .lesson_stage,
            3
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_wrong_types_named() {
        let body = request(r#"{"lessonSlug":"a","sessionId":"b","extra":{"x":1}}"#);
        assert_eq!(body.expect("unknown field").lesson_slug, "a");
        let err = request(r#"{"lessonStage":true}"#).expect_err("bool stage");
        assert!(err.to_string().contains("lessonStage"), "{err}");
        let err = request(r#"{"lessonStage":"two"}"#).expect_err("text stage");
        assert!(err.to_string().contains("two"), "{err}");
        assert!(request(r#"{"sessionId":7}"#).is_err());
    }

    #[test]
    fn zero_values_are_left_out_as_protobuf_json_does() {
        let session = LiveSession {
            id: "abcde12345".into(),
            source_ip: String::new(),
            persistent: false,
        };
        assert_eq!(
            serde_json::to_string(&session).expect("json"),
            r#"{"ID":"abcde12345"}"#
        );
    }
}
