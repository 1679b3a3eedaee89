//! Who is calling the apiserver: the subject of a client certificate that chains to
//! `--client-ca-file`, anonymous, or someone with an invalid certificate (always 401).

use hyper::StatusCode;

use crate::apiserver::handlers::Failure;
use rustls_pki_types::CertificateDer;

use crate::http::Peer;
use crate::pki::{self, Usage};

/// The caller of one request.
#[derive(Debug)]
pub enum Caller {
    User {
        name: String,
        groups: Vec<String>,
    },
    Anonymous,
    /// A client certificate was sent but does not verify.
    Invalid(String),
}

/// Paths anonymous callers may use when `--anonymous-auth` allows them at all.
const ANONYMOUS_PATHS: [&str; 4] = ["/healthz", "/livez", "/readyz", "/version"];

/// Verifies the client certificate chain (the TLS layer only checked key possession).
pub fn authenticate(peer: &Peer, client_ca: &[CertificateDer<'static>]) -> Caller {
    let Some(leaf) = peer.leaf() else {
        return Caller::Anonymous;
    };
    if let Err(e) = pki::verify_chain(&peer.certs, client_ca, Usage::Client) {
        return Caller::Invalid(e);
    }
    match pki::identity(leaf) {
        Ok((name, groups)) => Caller::User { name, groups },
        Err(e) => Caller::Invalid(e),
    }
}

/// Admits or refuses a request: 401 for invalid certificates, and for anonymous callers when
/// anonymous auth is off; 403 for anonymous callers outside the health and version paths.
pub fn admit(
    caller: &Caller,
    anonymous_allowed: bool,
    method: &str,
    path: &str,
) -> Result<(), Failure> {
    match caller {
        Caller::User { .. } => return Ok(()),
        Caller::Invalid(_) => {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized",
            ));
        }
        Caller::Anonymous => {}
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
