//! The wire shapes of `/exp`, the compatibility surface for antidote's front ends: every
//! JSON name, every omission rule and the error body, in one place, apart from our
//! internal types.
//!
//! antidote-core served `/exp` through grpc-gateway v1 with its default marshaler
//! (`JSONPb{OrigName: true}`): JSON names are the proto field names exactly (mostly
//! PascalCase, a few lower case), fields appear in proto order, and fields holding their
//! zero value (`""`, `0`, `false`, empty lists and maps) are left out. These types
//! reproduce that byte for byte; the field lists come from
//! `api/exp/definitions/*.proto` of `nre-learning/antidote-core`.
//!
//! - [`live`]: `LiveSession`, `LiveLessonRequest`, `LiveLessonId`, `LiveLesson`,
//!   `LiveEndpoint`, `LivePresentation`.
//! - [`curriculum`]: `Lessons`, `Lesson` and its parts, `LessonPrereqs`, `Collections`,
//!   `Collection`, `LessonSummary`, `CurriculumInfo`, `AntidoteInfo`.
//! - [`error`]: the gateway's error body `{"error", "code", "message"}` with gRPC code
//!   numbers, and the layer that gives every `/exp` error that body.
//! - [`body`]: request bodies read as JSON whatever their content type, as the gateway did.

pub mod body;
pub mod curriculum;
pub mod error;
pub mod live;

pub use body::ExpJson;
pub use error::{GatewayError, gateway_body, grpc_code};

/// An empty message: `google.protobuf.Empty` (the body of `POST /exp/livesession`) and
/// `LBHealthCheckResponse` (the `{}` the original answered to `GET /*`, the load
/// balancer's health check). Fields sent in it are ignored, as the gateway ignored them.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct Empty {}

/// proto3 JSON leaves zero numbers out.
#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's `skip_serializing_if` passes a reference"
)]
fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// proto3 JSON leaves `false` out.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}
