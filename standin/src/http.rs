//! A small HTTP/1.1 server over TCP, with or without TLS, and response helpers.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::log::log;

pub type Resp = Response<Full<Bytes>>;

/// The peer of one connection: its address and, over TLS, the certificates it sent (leaf
/// first; verified by the TLS layer unless the server defers that to its handler).
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub certs: Vec<CertificateDer<'static>>,
}

impl Peer {
    /// The client's leaf certificate, if it sent one.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.certs.first()
    }
}

/// Binds a TCP listener on `ip` (IPv4 or IPv6, without brackets) and `port`.
pub async fn bind_ip(ip: &str, port: u16) -> Result<TcpListener, String> {
    let ip: IpAddr = ip
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| format!("bad bind address {ip:?}"))?;
    bind(SocketAddr::new(ip, port)).await
}

/// Binds `host:port` as the Go components write it (`127.0.0.1:10256`, `[::1]:10256`, `:10256`).
pub async fn bind_hostport(text: &str, default_port: u16) -> Result<TcpListener, String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => {
            (h, p.parse().map_err(|_| format!("bad port in {text:?}"))?)
        }
        _ => (text, default_port),
    };
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    bind_ip(host, port).await
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves `handler` on every connection accepted by `listener`, over TLS when `tls` is given.
pub fn spawn_server<H, F>(listener: TcpListener, tls: Option<Arc<ServerConfig>>, handler: H)
where
    H: Fn(Request<Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let (tcp, addr) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    log!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let Some(acceptor) = acceptor else {
                    return serve_conn(
                        tcp,
                        Peer {
                            addr,
                            certs: Vec::new(),
                        },
                        handler,
                    )
                    .await;
                };
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let certs = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                            .unwrap_or_default();
                        serve_conn(stream, Peer { addr, certs }, handler).await
                    }
                    // A peer that closes without a word (a TCP health check) is not news.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                    Ok(Err(e)) => log!("TLS handshake from {addr} refused: {e}"),
                    Err(_) => log!("TLS handshake from {addr} timed out"),
                }
            });
        }
    });
}

async fn serve_conn<S, H, F>(io: S, peer: Peer, handler: H)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let service = service_fn(move |req| {
        let fut = handler(req, peer.clone());
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &str) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("valid response")
}

/// Reads a request body of at most `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, String> {
    Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("cannot read request body: {e}"))
}
