//! Running a command in a pod through the Kubernetes API (`pods/<name>/exec` over a
//! websocket, the `v5.channel.k8s.io` / `v4.channel.k8s.io` protocols), over TLS with the
//! same client certificate as every other request. Never shells out to kubectl.

use crate::kubeapi::KubeClient;
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Longest a command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest each of the connect, the TLS handshake and the websocket upgrade may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// At most this much output is kept per stream.
const OUTPUT_LIMIT: usize = 1 << 20;

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The exec path with its query (`command` once per argument).
pub fn exec_path(
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    command: &[String],
) -> String {
    let mut q = vec!["stdout=true".to_string(), "stderr=true".to_string()];
    if let Some(c) = container {
        q.push(format!("container={}", encode(c)));
    }
    for a in command {
        q.push(format!("command={}", encode(a)));
    }
    format!(
        "/api/v1/namespaces/{namespace}/pods/{pod}/exec?{}",
        q.join("&")
    )
}

/// The exit code in the status channel's `Status` object.
pub fn exit_code_of(status: &Value) -> Result<i32, String> {
    match status.get("status").and_then(Value::as_str) {
        Some("Success") => Ok(0),
        _ => {
            let code = status
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|x| x.get("reason").and_then(Value::as_str) == Some("ExitCode"))
                })
                .and_then(|x| x.get("message").and_then(Value::as_str))
                .and_then(|m| m.parse::<i32>().ok());
            match code {
                Some(c) => Ok(c),
                None => Err(format!(
                    "exec failed: {}",
                    status
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                )),
            }
        }
    }
}

/// Run `command` in the pod's container and wait for it to end (at most 10 minutes; the
/// connect, the TLS handshake and the websocket upgrade at most [`HANDSHAKE_TIMEOUT`] each).
pub async fn run(
    client: &KubeClient,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    command: &[String],
) -> Result<ExecOutput, String> {
    run_bounded(
        client,
        namespace,
        pod,
        container,
        command,
        HANDSHAKE_TIMEOUT,
    )
    .await
}

async fn run_bounded(
    client: &KubeClient,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    command: &[String],
    handshake: Duration,
) -> Result<ExecOutput, String> {
    let (server, tls) = client.tls_parts();
    let path = exec_path(namespace, pod, container, command);
    let rest = server
        .strip_prefix("https://")
        .ok_or_else(|| format!("exec needs an https API server, not {server}"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let hostname = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:443")
    };
    let hostname = hostname
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let name = rustls::pki_types::ServerName::try_from(hostname.clone())
        .map_err(|e| format!("exec: bad server name {hostname}: {e}"))?;
    let fail =
        |what: &str, e: &dyn std::fmt::Display| format!("exec in {namespace}/{pod}: {what}: {e}");
    let timed_out = |what: &str| {
        fail(
            what,
            &format!("no answer within {} s", handshake.as_secs_f32()),
        )
    };
    let tcp = tokio::time::timeout(handshake, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| timed_out("connect"))?
        .map_err(|e| fail("connect", &e))?;
    let tls = tokio::time::timeout(
        handshake,
        tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
    )
    .await
    .map_err(|_| timed_out("TLS handshake"))?
    .map_err(|e| fail("TLS", &e))?;
    let mut req = format!("wss://{host}{path}")
        .into_client_request()
        .map_err(|e| fail("request", &e))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("v5.channel.k8s.io, v4.channel.k8s.io"),
    );
    let (mut ws, resp) = tokio::time::timeout(handshake, tokio_tungstenite::client_async(req, tls))
        .await
        .map_err(|_| timed_out("websocket upgrade"))?
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) => {
                let body = r
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                let msg = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or(body);
                fail(&format!("HTTP {}", r.status().as_u16()), &msg)
            }
            other => fail("websocket", &other),
        })?;
    let proto = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if proto.is_empty() {
        return Err(fail("websocket", &"the server chose no channel protocol"));
    }
    let mut out = ExecOutput {
        exit_code: -1,
        stdout: String::new(),
        stderr: String::new(),
    };
    let mut status: Option<Value> = None;
    let read = async {
        while let Some(msg) = ws.next().await {
            let msg = msg.map_err(|e| fail("websocket", &e))?;
            let data: Vec<u8> = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&chan, body)) = data.split_first() else {
                continue;
            };
            let text = String::from_utf8_lossy(body);
            match chan {
                1 if out.stdout.len() < OUTPUT_LIMIT => out.stdout.push_str(&text),
                2 if out.stderr.len() < OUTPUT_LIMIT => out.stderr.push_str(&text),
                3 => {
                    status =
                        Some(serde_json::from_slice(body).map_err(|e| fail("status channel", &e))?);
                }
                _ => {}
            }
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(EXEC_TIMEOUT, read)
        .await
        .map_err(|_| {
            fail(
                "command",
                &format!("still running after {} s", EXEC_TIMEOUT.as_secs()),
            )
        })??;
    let _ = ws.close(None).await;
    let status =
        status.ok_or_else(|| fail("command", &"the connection closed without an exit status"))?;
    out.exit_code = exit_code_of(&status).map_err(|e| fail("command", &e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_repeats_command() {
        assert_eq!(
            exec_path(
                "db",
                "x-0",
                Some("c"),
                &["sh".into(), "-c".into(), "echo a b".into()]
            ),
            "/api/v1/namespaces/db/pods/x-0/exec?stdout=true&stderr=true&container=c&command=sh&command=-c&command=echo%20a%20b"
        );
    }

    /// A CA, a client certificate for the client and a server certificate for 127.0.0.1.
    fn pki() -> (String, String, String, rustls::ServerConfig) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, &ca_key);
        let leaf = |san: &str| {
            let k = KeyPair::generate().unwrap();
            let c = CertificateParams::new(vec![san.to_string()])
                .unwrap()
                .signed_by(&k, &issuer)
                .unwrap();
            (c, k)
        };
        let (client, client_key) = leaf("client");
        let (server, server_key) = leaf("127.0.0.1");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
            )
            .unwrap();
        (
            ca_cert.pem(),
            client.pem(),
            client_key.serialize_pem(),
            server_config,
        )
    }

    /// A server that accepts and then says nothing (`tls`: completes the TLS handshake
    /// first, then stays silent, so only the websocket upgrade hangs).
    async fn silent_server(tls: Option<rustls::ServerConfig>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                match &tls {
                    None => held.push(s),
                    Some(cfg) => {
                        let acceptor =
                            tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg.clone()));
                        if let Ok(t) = acceptor.accept(s).await {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            drop(t);
                        }
                    }
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn a_silent_server_cannot_hold_the_handshake_or_the_upgrade() {
        let (ca, cert, key, server_config) = pki();
        for (tls, stage) in [
            (None, "TLS handshake"),
            (Some(server_config), "websocket upgrade"),
        ] {
            let port = silent_server(tls).await;
            let client = KubeClient::new(
                &format!("https://127.0.0.1:{port}"),
                &ca,
                &cert,
                &key,
                Duration::from_secs(5),
            )
            .unwrap();
            let started = std::time::Instant::now();
            let e = run_bounded(
                &client,
                "db",
                "x-0",
                None,
                &["true".into()],
                Duration::from_secs(1),
            )
            .await
            .unwrap_err();
            assert!(e.contains(stage) && e.contains("no answer within"), "{e}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn exit_codes_from_status() {
        assert_eq!(exit_code_of(&json!({"status": "Success"})), Ok(0));
        let st = json!({"status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}});
        assert_eq!(exit_code_of(&st), Ok(3));
        assert!(
            exit_code_of(&json!({"status": "Failure", "message": "container not found"}))
                .unwrap_err()
                .contains("container not found")
        );
    }
}
