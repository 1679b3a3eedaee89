//! Who is calling the apiserver: the subject of a client certificate (already verified
//! against `--client-ca-file` during the TLS handshake), or anonymous.

use hyper::StatusCode;

use crate::apiserver::handlers::Failure;
use crate::http::Peer;
use crate::pki;

/// The authenticated caller.
#[derive(Debug)]
pub enum Caller {
    User { name: String, groups: Vec<String> },
    Anonymous,
}

/// Paths anonymous callers may use when `--anonymous-auth` allows them at all.
const ANONYMOUS_PATHS: [&str; 4] = ["/healthz", "/livez", "/readyz", "/version"];

pub fn authenticate(peer: &Peer) -> Caller {
    match peer.cert.as_ref().map(pki::identity) {
        Some(Ok((name, groups))) => Caller::User { name, groups },
        _ => Caller::Anonymous,
    }
}

/// Admits or refuses a request: 401 for anonymous callers when anonymous auth is off,
/// 403 for anonymous callers outside the health and version paths.
pub fn admit(
    caller: &Caller,
    anonymous_allowed: bool,
    method: &str,
    path: &str,
) -> Result<(), Failure> {
    if let Caller::User { .. } = caller {
        return Ok(());
    }
    if !anonymous_allowed {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
        ));
    }
    if ANONYMOUS_PATHS.contains(&path) {
        return Ok(());
    }
    let verb = method.to_ascii_lowercase();
    Err(Failure::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!("forbidden: User \"system:anonymous\" cannot {verb} path \"{path}\""),
    ))
}
