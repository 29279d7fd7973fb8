//! Request bodies on `/exp`: JSON whatever the `Content-Type`, as grpc-gateway read them.
//!
//! The original front end posts `JSON.stringify(...)` strings with `fetch`, which the
//! browser labels `text/plain;charset=UTF-8`; the gateway decoded any content type it did
//! not know as JSON. An empty body was an empty message. Bodies that are not JSON are
//! refused with a 400 that says so.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::api::ApiError;

/// A JSON request body, read whatever its content type.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpJson<T>(pub T);

impl<S, T> FromRequest<S> for ExpJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    rejection.body_text(),
                )
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        Self::from_bytes(&bytes)
    }
}

impl<T: DeserializeOwned> ExpJson<T> {
    /// Parses a body already read: empty (or blank) is `{}`, anything else must be JSON of
    /// the request's shape.
    ///
    /// # Errors
    ///
    /// 400 `bad_request` saying whether the body is not JSON at all or which field is
    /// wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        let blank = bytes.iter().all(u8::is_ascii_whitespace);
        let bytes: &[u8] = if blank { b"{}" } else { bytes };
        serde_json::from_slice(bytes).map(Self).map_err(|err| {
            ApiError::bad_request(match err.classify() {
                Category::Data => format!("invalid request body: {err}"),
                Category::Syntax | Category::Eof | Category::Io => {
                    format!("the request body is not JSON: {err}")
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::live::LiveLessonRequest;

    #[test]
    fn an_empty_body_is_an_empty_message() {
        let ExpJson(body) = ExpJson::<LiveLessonRequest>::from_bytes(b" \n").expect("blank");
        assert_eq!(body, LiveLessonRequest::default());
    }

    #[test]
    fn text_that_is_not_json_is_a_400_saying_so() {
        let err = ExpJson::<LiveLessonRequest>::from_bytes(b"lessonSlug=a").expect_err("form");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.message().contains("not JSON"), "{err:?}");
        let err = ExpJson::<LiveLessonRequest>::from_bytes(b"[1]").expect_err("array");
        assert!(err.message().contains("invalid request body"), "{err:?}");
    }
}
