//! rustls configurations: servers with their serving certificate and client-certificate
//! policy, and clients that trust one CA and present one certificate.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::pki::Pair;

/// Whether a server asks for client certificates, and which CA they must chain to.
pub enum ClientAuth<'a> {
    /// Do not ask.
    None,
    /// Ask; a certificate that is sent must chain to these CAs.
    Optional(&'a [CertificateDer<'static>]),
    /// Refuse the handshake without a certificate chaining to these CAs.
    Required(&'a [CertificateDer<'static>]),
}

fn roots(cas: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    for ca in cas {
        store
            .add(ca.clone())
            .map_err(|e| format!("CA certificate not usable: {e}"))?;
    }
    Ok(Arc::new(store))
}

/// A TLS server configuration offering HTTP/1.1.
pub fn server(pair: &Pair, auth: ClientAuth<'_>) -> Result<Arc<ServerConfig>, String> {
    let builder = ServerConfig::builder();
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional(cas) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(roots(cas)?)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("client verifier: {e}"))?,
        ),
        ClientAuth::Required(cas) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(roots(cas)?)
                .build()
                .map_err(|e| format!("client verifier: {e}"))?,
        ),
    };
    let mut config = builder
        .with_single_cert(pair.chain.clone(), pair.key.clone_key())
        .map_err(|e| format!("serving certificate not usable: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS client configuration trusting `cas` and presenting `identity`.
pub fn client(
    cas: &[CertificateDer<'static>],
    identity: &Pair,
) -> Result<Arc<ClientConfig>, String> {
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots(cas)?)
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| format!("client certificate not usable: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
