//! Every request the stand-in apiserver serves, in one match (mirrored in `standin/API.md`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use rustls_pki_types::CertificateDer;
use serde_json::json;

use crate::apiserver::auth;
use crate::apiserver::handlers::{self, Change, Ctx, fail};
use crate::apiserver::path::ResourcePath;
use crate::http::{self, Peer, Resp};
use crate::lists::Minor;
use crate::log::log;

/// Largest request body accepted (the real apiserver's limit is 3 MiB).
const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Query parameters the stand-in refuses rather than silently ignores.
const UNSUPPORTED_QUERY: [&str; 3] = ["fieldSelector", "dryRun", "watch"];

/// What every request needs.
pub struct Api {
    pub ctx: Ctx,
    pub ready: Arc<AtomicBool>,
    pub anonymous: bool,
    pub client_ca: Vec<CertificateDer<'static>>,
    pub version: Minor,
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn media_type(req: &Request<Incoming>) -> String {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Authenticates, logs and serves one request.
pub async fn serve(api: Arc<Api>, req: Request<Incoming>, peer: Peer) -> Resp {
    let caller = auth::authenticate(&peer, &api.client_ca);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match auth::admit(&caller, api.anonymous, method.as_str(), &path) {
        Ok(()) => route(&api, req).await,
        Err(r) => r.into(),
    };
    let who = match &caller {
        auth::Caller::User { name, groups } => format!("{name} {groups:?}"),
        auth::Caller::Anonymous => "anonymous".to_string(),
        auth::Caller::Invalid(why) => format!("invalid client certificate ({why})"),
    };
    log!(
        "{method} {path} from {} as {who}: {}",
        peer.addr,
        resp.status().as_u16()
    );
    resp
}

async fn route(api: &Api, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if let Some(q) = UNSUPPORTED_QUERY
        .iter()
        .find(|q| query_param(&query, q).is_some())
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("query parameter {q} is not supported by the k8s-standin apiserver"),
        );
    }
    let media = media_type(&req);
    let rp = ResourcePath::parse(&path);
    let ctx = &api.ctx;
    if let Some(r) = &rp
        && r.group.is_empty()
        && r.resource == "pods"
        && r.subresource.as_deref() == Some("exec")
        && matches!(method, Method::GET | Method::POST)
    {
        return crate::apiserver::exec::serve(ctx, r, &query, req).await;
    }
    let body = if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        match http::read_body(req.into_body(), BODY_LIMIT).await {
            Ok(b) => b,
            Err(m) => return fail(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &m),
        }
    } else {
        Default::default()
    };
    let yaml_body = media == "application/yaml";
    let json_ok = matches!(media.as_str(), "" | "application/json" | "application/yaml");

    match (&method, path.as_str(), rp) {
        (&Method::GET, "/version", _) => http::json(StatusCode::OK, &version(api.version)),
        (&Method::GET, "/healthz" | "/livez", _) => http::text(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz", _) => readyz(api),
        (&Method::POST, _, Some(rp))
            if rp.group.is_empty()
                && rp.resource == "pods"
                && rp.subresource.as_deref() == Some("eviction") =>
        {
            evict(ctx, rp).await
        }
        (_, _, Some(rp)) => {
            let status_sub = rp.subresource.as_deref() == Some("status");
            if rp.subresource.is_some() && !status_sub {
                return fail(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
            match (&method, rp.name.is_some(), media.as_str()) {
                (&Method::GET, false, _) if !status_sub => {
                    let selector = query_param(&query, "labelSelector").unwrap_or_default();
                    match handlers::LabelSelector::parse(&selector) {
                        Ok(sel) => handlers::list(ctx, &rp, &sel).await,
                        Err(m) => fail(StatusCode::BAD_REQUEST, "BadRequest", &m),
                    }
                }
                (&Method::GET, true, _) => handlers::get(ctx, &rp).await,
                (&Method::POST, false, _) if json_ok && !status_sub => {
                    match handlers::parse_body(&body, yaml_body) {
                        Ok(obj) => handlers::create(ctx, &rp, obj).await,
                        Err(r) => r.into(),
                    }
                }
                (&Method::PUT, true, _) if json_ok => {
                    match handlers::parse_body(&body, yaml_body) {
                        Ok(body) => {
                            handlers::modify(
                                ctx,
                                &rp,
                                Change::Replace {
                                    body,
                                    status_only: status_sub,
                                },
                            )
                            .await
                        }
                        Err(r) => r.into(),
                    }
                }
                (&Method::PATCH, true, "application/merge-patch+json") => {
                    match handlers::parse_body(&body, false) {
                        Ok(patch) => {
                            handlers::modify(
                                ctx,
                                &rp,
                                Change::Merge {
                                    patch,
                                    status_only: status_sub,
                                },
                            )
                            .await
                        }
                        Err(r) => r.into(),
                    }
                }
                (&Method::PATCH, true, "application/apply-patch+yaml") => {
                    if query_param(&query, "fieldManager").is_none_or(|m| m.is_empty()) {
                        return fail(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            "PATCH with apply content type requires the fieldManager query parameter",
                        );
                    }
                    let body = match handlers::parse_body(&body, true) {
                        Ok(b) => b,
                        Err(r) => return r.into(),
                    };
                    if let Err(r) = handlers::check_apply_body(&body) {
                        return r.into();
                    }
                    let change = if status_sub {
                        Change::Replace {
                            body,
                            status_only: true,
                        }
                    } else {
                        Change::Apply { body }
                    };
                    handlers::modify(ctx, &rp, change).await
                }
                (&Method::PATCH, true, m) | (&Method::POST | &Method::PUT, _, m)
                    if !json_ok || method == Method::PATCH =>
                {
                    fail(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        &format!(
                            "the body of the request was in an unknown format for {method}: {m:?}"
                        ),
                    )
                }
                (&Method::DELETE, true, _) if !status_sub => handlers::delete(ctx, &rp).await,
                _ => fail(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    &format!("{method} is not supported on {path}"),
                ),
            }
        }
        _ => fail(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

/// The Eviction API without PodDisruptionBudgets or kubelets to stop anything: the pod
/// object is deleted, 201 with a Success `Status`; 404 when absent.
async fn evict(ctx: &Ctx, mut rp: ResourcePath) -> Resp {
    rp.subresource = None;
    let resp = handlers::delete(ctx, &rp).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    http::json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
    )
}

fn readyz(api: &Api) -> Resp {
    if api.ready.load(Ordering::SeqCst) {
        http::text(StatusCode::OK, "ok")
    } else {
        http::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "[-]etcd failed: reason withheld\nreadyz check failed",
        )
    }
}

fn version(v: Minor) -> serde_json::Value {
    json!({
        "major": v.major.to_string(),
        "minor": v.minor.to_string(),
        "gitVersion": format!("v{}.{}.0-k8s-standin", v.major, v.minor),
        "platform": "linux/amd64",
    })
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, query_param};

    #[test]
    fn queries() {
        assert_eq!(
            query_param("a=1&fieldManager=k8s%2Dmanage", "fieldManager").as_deref(),
            Some("k8s-manage")
        );
        assert_eq!(query_param("force", "force").as_deref(), Some(""));
        assert!(query_param("a=1", "b").is_none());
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
