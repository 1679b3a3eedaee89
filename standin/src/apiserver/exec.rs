//! `pods/<name>/exec` over a websocket (`v5.channel.k8s.io` / `v4.channel.k8s.io`). The
//! stand-in runs no containers, so the "container" understands three commands only:
//! `echo ARGS...` (stdout, exit 0), `true` (exit 0) and `false` (exit 1); any other command
//! exits 127 with a message on stderr. Frames: channel byte 1 stdout, 2 stderr, 3 the
//! final `Status` (Success, or Failure with the ExitCode cause), then close.

use base64::Engine;
use futures_util::SinkExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Message, Role};

use crate::apiserver::handlers::{Ctx, fail};
use crate::apiserver::path::ResourcePath;
use crate::http::Resp;
use crate::log::log;

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the emulated command does: (stdout, stderr, exit code).
pub fn emulate(command: &[String]) -> (String, String, i32) {
    match command.first().map(String::as_str) {
        Some("echo") => (format!("{}\n", command[1..].join(" ")), String::new(), 0),
        Some("true") => (String::new(), String::new(), 0),
        Some("false") => (String::new(), String::new(), 1),
        other => (
            String::new(),
            format!(
                "k8s-standin: no container runs here; command {:?} not found (only echo, true, false)\n",
                other.unwrap_or("")
            ),
            127,
        ),
    }
}

fn status_of(code: i32) -> Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    }
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Serve one exec request: 404 when the pod is not stored, 400 without a websocket
/// upgrade, a command or a known channel protocol; else 101 and the emulated run.
pub async fn serve(ctx: &Ctx, rp: &ResourcePath, query: &str, mut req: Request<Incoming>) -> Resp {
    let pod = ResourcePath {
        subresource: None,
        ..rp.clone()
    };
    match ctx.store.get(&pod.key(&ctx.prefix)).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return fail(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("pods \"{}\" not found", rp.name.clone().unwrap_or_default()),
            );
        }
        Err(e) => return crate::apiserver::handlers::store_error(e).into(),
    }
    let command: Vec<String> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == "command")
        .map(|(_, v)| super::routes::percent_decode(v))
        .collect();
    if command.is_empty() {
        return fail(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "you must specify at least 1 command",
        );
    }
    let key = header(&req, "sec-websocket-key").to_string();
    if !header(&req, "upgrade").eq_ignore_ascii_case("websocket") || key.is_empty() {
        return fail(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "exec needs a websocket upgrade",
        );
    }
    let offered = header(&req, "sec-websocket-protocol").to_string();
    let Some(proto) = PROTOCOLS
        .iter()
        .find(|p| offered.split(',').any(|o| o.trim() == **p))
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "no supported channel protocol offered (v5.channel.k8s.io, v4.channel.k8s.io)",
        );
    };
    let accept = {
        let d = ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            format!("{key}{WS_GUID}").as_bytes(),
        );
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    };
    let name = rp.name.clone().unwrap_or_default();
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(&mut req).await {
            Ok(u) => u,
            Err(e) => {
                log!("exec in pod {name}: upgrade failed: {e}");
                return;
            }
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let (stdout, stderr, code) = emulate(&command);
        log!("exec in pod {name}: {command:?} -> exit {code}");
        let frame = |chan: u8, data: &[u8]| {
            let mut b = vec![chan];
            b.extend_from_slice(data);
            Message::Binary(b.into())
        };
        let mut frames = Vec::new();
        if !stdout.is_empty() {
            frames.push(frame(1, stdout.as_bytes()));
        }
        if !stderr.is_empty() {
            frames.push(frame(2, stderr.as_bytes()));
        }
        frames.push(frame(3, status_of(code).to_string().as_bytes()));
        for f in frames {
            if ws.send(f).await.is_err() {
                return;
            }
        }
        let _ = ws.close(None).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept)
        .header("sec-websocket-protocol", *proto)
        .body(Default::default())
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_commands() {
        assert_eq!(
            emulate(&["echo".into(), "a".into(), "b".into()]),
            ("a b\n".into(), String::new(), 0)
        );
        assert_eq!(emulate(&["false".into()]).2, 1);
        assert_eq!(emulate(&["sh".into()]).2, 127);
        assert_eq!(status_of(3)["details"]["causes"][0]["message"], "3");
    }
}
