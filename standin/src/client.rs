//! An HTTPS client for the API server, built from a checked kubeconfig: it verifies the
//! server against the kubeconfig's CA and presents the kubeconfig's client certificate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::kubeconfig::ApiTarget;
use crate::tls;

/// One API server reached through a kubeconfig.
pub struct ApiClient {
    pub target: ApiTarget,
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl ApiClient {
    pub fn new(target: ApiTarget) -> Result<ApiClient, String> {
        let config =
            tls::client(&target.ca, &target.client).map_err(|e| format!("{}: {e}", target.file))?;
        let server_name = ServerName::try_from(target.host.clone())
            .map_err(|e| format!("{}: bad server host {:?}: {e}", target.file, target.host))?;
        Ok(ApiClient {
            connector: TlsConnector::from(Arc::<rustls::ClientConfig>::clone(&config)),
            server_name,
            target,
        })
    }

    /// `host:port` of the server.
    pub fn server(&self) -> String {
        format!("{}:{}", self.target.host, self.target.port)
    }

    /// Sends one request on a new connection; the whole exchange is bounded to 5 s.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), String> {
        tokio::time::timeout(
            Duration::from_secs(5),
            self.exchange(method, path, content_type, body),
        )
        .await
        .map_err(|_| format!("{} timed out", self.server()))?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), String> {
        let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| format!("connect {}: {e}", self.server()))?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", self.server()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP with {}: {e}", self.server()))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.server())
            .header("accept", "application/json")
            .header("user-agent", "k8s-standin");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request to {}: {e}", self.server()))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("response from {}: {e}", self.server()))?
            .to_bytes();
        Ok((status, bytes))
    }
}
