//! How backend calls fail, classified for the workflow's retry decision.

/// A failed backend call.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The Kubernetes API refused or failed a request.
    #[error("kubernetes {verb} {resource} {name:?} failed")]
    Api {
        /// Verb (`create`, `get`, ...).
        verb: &'static str,
        /// Resource (`pods`, ...).
        resource: &'static str,
        /// Object name, or empty for lists.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// An object with our name exists but does not carry this livelesson's labels.
    #[error("{kind} {namespace}/{name} exists but does not belong to livelesson {livelesson}")]
    NotOurs {
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The livelesson that wanted it.
        livelesson: String,
    },
    /// A secret to copy into the livelesson's namespace does not exist.
    #[error("secret {namespace}/{name} to copy into livelessons does not exist")]
    MissingSecret {
        /// Source namespace.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// An object could not be built from the lesson (a definition the builders reject).
    #[error("cannot build the livelesson's objects: {0}")]
    Build(String),
    /// The lesson needs an image the curriculum does not define.
    #[error("image {0:?} is not defined in the curriculum")]
    UnknownImage(String),
    /// A pod cannot start (image pull failure, crash loop, failed init container).
    #[error("pod {pod} cannot start: {reason}")]
    PodFailed {
        /// Pod name.
        pod: String,
        /// What Kubernetes reported.
        reason: String,
        /// The pod's logs (init and main containers).
        logs: String,
    },
    /// A configuration job failed past its backoff limit.
    #[error("configuration job {job} failed: {reason}")]
    JobFailed {
        /// Job name.
        job: String,
        /// What Kubernetes reported.
        reason: String,
        /// Logs of the job's last pod.
        logs: String,
    },
    /// The livelesson's pods do not fit its resource budget: the API server's quota
    /// admission refused one (`message` is its refusal, naming the quota), or the
    /// configuration pods could not fit beside the endpoints. Permanent: the same pods
    /// would be refused again.
    #[error("the lab does not fit its resource budget (ResourceQuota {quota}): {message}")]
    OverBudget {
        /// The ResourceQuota's name.
        quota: String,
        /// What was refused and why, in the API server's words.
        message: String,
    },
    /// The lesson's budget names a size that is not defined.
    #[error(transparent)]
    UnknownBudget(#[from] crate::backend::budget::UnknownSize),
    /// A wait ran out of time while the Kubernetes API was failing (unreachable, or its
    /// storage away): what was awaited may have happened without being seen.
    #[error("timed out after {seconds} s waiting for {what} while the Kubernetes API was failing")]
    Unobserved {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// A wait ran out of time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
        /// Logs captured at the timeout, if any.
        logs: String,
    },
}

impl BackendError {
    /// Whether trying again later may succeed: API 5xx/429, timeouts of the transport,
    /// connection failures, and waits that the API's failure left unobserved. Everything
    /// else (validation, missing objects, failed pods, waits that saw no progress on a
    /// working API) is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { source, .. } => is_transient_kube(source),
            Self::Unobserved { .. } => true,
            _ => false,
        }
    }

    /// Logs captured with the failure.
    pub fn logs(&self) -> Option<&str> {
        match self {
            Self::PodFailed { logs, .. }
            | Self::JobFailed { logs, .. }
            | Self::Timeout { logs, .. }
                if !logs.is_empty() =>
            {
                Some(logs)
            }
            _ => None,
        }
    }
}

/// The quota named by an API server's refusal `exceeded quota: <name>, requested: ...`
/// (quota admission's 403 Forbidden), if `status` is one.
pub fn quota_refusal(status: &kube::core::Status) -> Option<String> {
    if status.code != 403 {
        return None;
    }
    let (_, rest) = status.message.split_once("exceeded quota: ")?;
    let name = rest.split(',').next()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Whether a kube client error is worth retrying.
pub fn is_transient_kube(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => true,
        _ => false,
    }
}
