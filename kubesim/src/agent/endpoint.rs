//! The node's HTTPS endpoint (a kubelet's port 10250), where an API server reads container
//! logs for `pods/log`: `GET /containerLogs/{namespace}/{pod}/{container}` with
//! `tailLines`. It serves a self-signed certificate: API servers do not verify kubelets'
//! certificates unless told to (`--kubelet-certificate-authority`).

use std::collections::HashMap;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::State;
use super::address::BoundListener;

/// The port kubelets serve on; the agent reports it as its daemon endpoint.
pub const KUBELET_PORT: u16 = 10250;

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Generating the self-signed certificate failed.
    #[error("generating the node's certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate.
    #[error("configuring TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// A TLS acceptor with a fresh self-signed certificate for `name`.
pub fn acceptor(name: &str) -> Result<TlsAcceptor, EndpointError> {
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec![name.to_owned()])?;
    let cert = params.self_signed(&key)?;
    let der_key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| rustls::Error::General(e.to_owned()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der_key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the endpoint on `listener` until aborted.
pub(super) async fn serve(s: Arc<State>, bound: BoundListener, tls: TlsAcceptor) {
    let listener = &bound.listener;
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let (s, tls) = (s.clone(), tls.clone());
                    conns.spawn(async move {
                        let Ok(stream) = tls.accept(stream).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |req| {
                            let s = s.clone();
                            async move { Ok::<_, std::convert::Infallible>(answer(&s, &req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kubesim agent: accepting on the node endpoint");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

fn answer(s: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    let ["containerLogs", namespace, pod, container] = parts.as_slice() else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n".into());
    };
    let Some(uid) = s.pod_uid(namespace, pod) else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "pod {namespace}/{pod} is not on node {}\n",
                s.config.node_name
            ),
        );
    };
    let query: HashMap<&str, &str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let mut lines = s.logs.lines(&uid, container);
    if let Some(tail) = query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    text(StatusCode::OK, body)
}
