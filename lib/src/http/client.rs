//! The one outbound HTTP(S) client: rustls with the system's roots (read once
//! per process, shared with the PostgreSQL connector) and the aws-lc-rs
//! provider, over hyper's HTTP/1 client. Secrets Manager, the JWKS fetch, the
//! Lambda Runtime API's init error and `clerk-sync send` all use [`shared`].
//!
//! Nothing is built at cold start: the client (its TLS configuration and the
//! system roots) is made on first use, then reused for the life of the
//! process. It speaks `https://` and plain `http://` (the Runtime API, local
//! endpoints and the tests' servers are on loopback).

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use rustls::{crypto::CryptoProvider, pki_types::CertificateDer, ClientConfig, RootCertStore};

/// The crypto provider every TLS connection uses.
pub fn provider() -> Arc<CryptoProvider> {
    // Explicit, so nothing depends on a process-wide default provider.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The system's trusted roots, read once per process.
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let result = rustls_native_certs::load_native_certs();
        for error in &result.errors {
            tracing::warn!(%error, "could not read some system CA certificates");
        }
        result.certs
    })
}

/// A connection attempt gives up after this long. Lambda gives a cold start
/// 10 s in all, and Secrets Manager is fetched within it; each caller also
/// bounds the whole exchange with its own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer to a request: its status, headers and body (read whole, up to
/// the caller's cap).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is `https://`, but the system has no trusted roots (or
    /// TLS could not be set up at all).
    #[error("{0}")]
    Tls(String),
    /// No answer: connecting, sending, or reading the answer's head failed.
    #[error(transparent)]
    Request(hyper_util::client::legacy::Error),
    /// The answer's body could not be read, or is larger than the cap.
    #[error("reading the answer failed: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    /// No whole answer within the caller's timeout.
    #[error("timed out")]
    Timeout,
}

/// The shared client. Its connections are not kept between requests: the
/// callers make a few requests per process (and a new connection each would
/// mostly have been anyway), and a kept connection belongs to the tokio
/// runtime that opened it, which a later caller on another runtime (each test
/// has its own) could not use once that runtime is busy or gone.
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Why `https://` cannot be used, when the system has no trusted roots.
    https_unavailable: Option<String>,
}

/// The process's client, built on first use.
pub fn shared() -> Result<&'static HttpClient, Error> {
    static CLIENT: OnceLock<Result<HttpClient, String>> = OnceLock::new();
    CLIENT.get_or_init(HttpClient::new).as_ref().map_err(|e| Error::Tls(e.clone()))
}

impl HttpClient {
    fn new() -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        // Plain http:// still works without roots; https:// is refused with this.
        let https_unavailable = roots.is_empty().then(|| "the system has no trusted CA certificates for HTTPS".into());
        let tls = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector =
            HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
        Ok(Self { client, https_unavailable })
    }

    /// `Ok` when `https://` requests can be made (the system has trusted roots).
    pub fn https_ready(&self) -> Result<(), Error> {
        match &self.https_unavailable {
            Some(reason) => Err(Error::Tls(reason.clone())),
            None => Ok(()),
        }
    }

    /// `GET uri`; see [`HttpClient::send`].
    pub async fn get(&self, uri: Uri, timeout: Duration, max_body: usize) -> Result<Answer, Error> {
        let mut request = Request::new(Full::default());
        *request.uri_mut() = uri;
        self.send(request, timeout, max_body).await
    }

    /// Sends `request` and reads the whole answer, at most `max_body` bytes
    /// of body, all within `timeout`. Any status is an answer.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, Error> {
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            self.https_ready()?;
        }
        let exchange = async {
            let response = self.client.request(request).await.map_err(Error::Request)?;
            let (head, body) = response.into_parts();
            let body = Limited::new(body, max_body).collect().await.map_err(Error::Body)?.to_bytes();
            Ok(Answer { status: head.status, headers: head.headers, body })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| Error::Timeout)?
    }
}
