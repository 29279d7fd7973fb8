//! Typed job kinds: a kind's name, the type of its arguments and how the engine runs it,
//! declared once in one type. Jobs made with [`NewJob::of`] and handlers registered with
//! [`Registry::register_kind`] take and receive that type, so a job enqueued with another
//! kind's arguments does not compile, and a handler never parses JSON by hand.
//!
//! ```
//! use job_engine::{JobContext, JobError, JobKind, NewJob, Registry};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Greeting {
//!     name: String,
//! }
//!
//! struct Greet;
//!
//! impl JobKind for Greet {
//!     const NAME: &'static str = "example.greet";
//!     type Args = Greeting;
//! }
//!
//! let mut registry = Registry::new();
//! registry.register_kind::<Greet, _, _>(|_ctx: JobContext, greeting: Greeting| async move {
//!     println!("hello, {}", greeting.name);
//!     Ok::<(), JobError>(())
//! });
//! let job = NewJob::of::<Greet>(&Greeting { name: "learner".into() }).expect("serialisable");
//! assert_eq!(job.kind, "example.greet");
//! ```
//!
//! Arguments of another type are refused by the compiler:
//!
//! ```compile_fail
//! use job_engine::{JobKind, NewJob};
//!
//! struct Greet;
//!
//! impl JobKind for Greet {
//!     const NAME: &'static str = "example.greet";
//!     type Args = String;
//! }
//!
//! // A number is not a `Greet`'s arguments.
//! let job = NewJob::of::<Greet>(&42);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::QueueError;
use super::job::NewJob;
use super::registry::KindOptions;

/// A kind of job: its stored name, its arguments and how its attempts run.
pub trait JobKind: 'static {
    /// The name stored in each job row of this kind (`jobs.kind`), unique in a registry.
    const NAME: &'static str;
    /// The arguments every job of this kind carries.
    type Args: Serialize + DeserializeOwned + Send + 'static;

    /// How the engine runs this kind's attempts (timeout, retry policy).
    fn options() -> KindOptions {
        KindOptions::default()
    }
}

impl NewJob {
    /// A job of kind `K` with `args`, on the default queue and settings.
    ///
    /// # Errors
    /// [`QueueError::Arguments`] when `args` cannot be represented as JSON (a map with
    /// non-string keys, a failing `Serialize` implementation).
    pub fn of<K: JobKind>(args: &K::Args) -> Result<Self, QueueError> {
        let args = serde_json::to_value(args).map_err(|source| QueueError::Arguments {
            kind: K::NAME,
            source,
        })?;
        Ok(Self::new(K::NAME, args))
    }
}
