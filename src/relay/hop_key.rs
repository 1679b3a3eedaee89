//! Per-run credentials of the relay: a random run id and one ed25519 key pair per hop.

use ssh_key::rand_core::{OsRng, RngCore};
use ssh_key::{Algorithm, LineEnding, PrivateKey};

/// A random run id (128 bits, hex).
pub fn run_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A per-hop key pair: (private key in OpenSSH format, public key line with `comment`).
pub fn generate(comment: &str) -> Result<(String, String), String> {
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
        .map_err(|e| format!("cannot generate a relay key: {e}"))?;
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("cannot encode a relay key: {e}"))?
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format!("cannot encode a relay key: {e}"))?;
    Ok((private, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_and_keys_are_fresh() {
        let (a, b) = (run_id(), run_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        let (p1, q1) = generate("k8s-manage-relay-x-r1").unwrap();
        let (p2, _) = generate("k8s-manage-relay-x-r1").unwrap();
        assert_ne!(p1, p2);
        assert!(p1.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(q1.starts_with("ssh-ed25519 ") && q1.ends_with(" k8s-manage-relay-x-r1"));
    }
}
