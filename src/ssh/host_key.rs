//! Checking the server's host key: against known_hosts under a [`HostKeyPolicy`]
//! (recording new keys and saying so, refusing changed ones), or against the key a first
//! session presented (or, for a session opened beside it, presents: `host_pin.rs`). Also
//! asks the server for the recorded key type first.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use ssh2::MethodType;

use super::error::SshError;
use super::host_pin::{HostPin, NoPin};
use super::known_hosts::{KnownHosts, fingerprint};
use super::{ConnectOptions, HostKeyPolicy, Target};

/// Prompts for unknown host keys are asked one at a time.
static CONFIRM_LOCK: Mutex<()> = Mutex::new(());

/// How the server's host key is checked.
pub(crate) enum HostCheck<'a> {
    /// Against known_hosts, under a policy.
    Known {
        known: &'a KnownHosts,
        policy: HostKeyPolicy,
    },
    /// It must be exactly this key (a second session to a host already checked).
    Pinned {
        blob: &'a [u8],
        known_hosts_path: &'a Path,
    },
    /// It must be exactly the key a first session, opened at the same time, checks
    /// against `known` (asked for the same key types, so both are shown the same key);
    /// waits for it until `deadline`.
    Awaited {
        known: &'a KnownHosts,
        policy: HostKeyPolicy,
        pin: &'a HostPin,
        deadline: Instant,
    },
}

/// The key type named inside a public key blob (`ssh-ed25519`, ...).
pub(crate) fn blob_type(blob: &[u8]) -> String {
    if blob.len() >= 4 {
        let len = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if let Some(name) = blob.get(4..4 + len)
            && let Ok(name) = std::str::from_utf8(name)
        {
            return name.to_string();
        }
    }
    "unknown".to_string()
}

/// Ask the server for a key type known_hosts (or the pinned key) has, so that a server
/// with several host keys presents the recorded one.
pub(crate) fn prefer_host_key_types(sess: &ssh2::Session, t: &Target, check: &HostCheck<'_>) {
    let types: Vec<String> = match check {
        HostCheck::Known { known, policy } | HostCheck::Awaited { known, policy, .. }
            if *policy != HostKeyPolicy::InsecureIgnore =>
        {
            known
                .lookup(t.address, t.port)
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !k.revoked)
                .map(|k| k.key_type)
                .collect()
        }
        HostCheck::Known { .. } | HostCheck::Awaited { .. } => Vec::new(),
        HostCheck::Pinned { blob, .. } => vec![blob_type(blob)],
    };
    if types.is_empty() {
        return;
    }
    let Ok(supported) = sess.supported_algs(MethodType::HostKey) else {
        return;
    };
    let mut preferred: Vec<&str> = Vec::new();
    for ty in &types {
        let algs: Vec<&str> = if ty == "ssh-rsa" {
            vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            vec![ty.as_str()]
        };
        for alg in algs {
            if let Some(s) = supported.iter().find(|s| **s == alg)
                && !preferred.contains(s)
            {
                preferred.push(s);
            }
        }
    }
    for s in &supported {
        if !preferred.contains(s) {
            preferred.push(s);
        }
    }
    let _ = sess.method_pref(MethodType::HostKey, &preferred.join(","));
}

pub(crate) fn verify_host_key(
    t: &Target,
    check: &HostCheck<'_>,
    opts: &ConnectOptions,
    blob: &[u8],
) -> Result<(), SshError> {
    let got = format!("{} {}", blob_type(blob), fingerprint(blob));
    let addr = t.socket_addr();
    let (known, policy) = match check {
        HostCheck::Awaited {
            known,
            pin,
            deadline,
            ..
        } => {
            let pinned = pin.wait(*deadline).map_err(|why| {
                SshError::io(
                    &t.name,
                    "second session",
                    match why {
                        NoPin::FirstFailed => "the first session to this host failed",
                        NoPin::TimedOut => {
                            "the first session to this host did not check its key in time"
                        }
                    },
                )
            })?;
            return verify_host_key(
                t,
                &HostCheck::Pinned {
                    blob: &pinned,
                    known_hosts_path: known.path(),
                },
                opts,
                blob,
            );
        }
        HostCheck::Pinned {
            blob: pinned,
            known_hosts_path,
        } => {
            return if *pinned == blob {
                Ok(())
            } else {
                Err(SshError::HostKeyMismatch {
                    host: t.name.clone(),
                    address: t.address,
                    port: t.port,
                    expected: format!(
                        "{} {} (presented on the first connection)",
                        blob_type(pinned),
                        fingerprint(pinned)
                    ),
                    got,
                    known_hosts_path: known_hosts_path.to_path_buf(),
                    line: 0,
                })
            };
        }
        HostCheck::Known { known, policy } => (known, *policy),
    };
    if policy == HostKeyPolicy::InsecureIgnore {
        opts.say(&format!(
            "WARNING: {} ({addr}): host key NOT checked (--insecure-ignore-host-keys); it presented {got}. \
             Anyone on the network path can impersonate this host and read what is sent to it.",
            t.name
        ));
        return Ok(());
    }
    let io_err = |e: std::io::Error| {
        SshError::io(
            &t.name,
            format!("reading and writing {}", known.path().display()),
            e,
        )
    };
    let (revoked, keys): (Vec<_>, Vec<_>) = known
        .lookup(t.address, t.port)
        .map_err(io_err)?
        .into_iter()
        .partition(|k| k.revoked);
    if let Some(r) = revoked.iter().find(|k| k.blob == blob) {
        return Err(SshError::HostKeyRevoked {
            host: t.name.clone(),
            address: t.address,
            port: t.port,
            got,
            known_hosts_path: known.path().to_path_buf(),
            line: r.line as u32,
        });
    }
    if keys.iter().any(|k| k.blob == blob) {
        return Ok(());
    }
    if !keys.is_empty() {
        let same_type = keys.iter().find(|k| k.key_type == blob_type(blob));
        let line = same_type.unwrap_or(&keys[0]).line as u32;
        let expected = keys
            .iter()
            .map(|k| format!("{} {}", k.key_type, k.fingerprint()))
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(SshError::HostKeyMismatch {
            host: t.name.clone(),
            address: t.address,
            port: t.port,
            expected,
            got,
            known_hosts_path: known.path().to_path_buf(),
            line,
        });
    }
    if policy == HostKeyPolicy::TrustOnFirstUse
        && let Some(confirm) = &opts.confirm_new_host
    {
        let _one_at_a_time = CONFIRM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(why) = confirm(t, &fingerprint(blob)) {
            return Err(SshError::UnknownHostRefused {
                host: t.name.clone(),
                address: t.address,
                port: t.port,
                fingerprint: got,
                known_hosts_path: known.path().to_path_buf(),
                why,
            });
        }
    }
    known
        .add(t.address, t.port, &blob_type(blob), blob, &t.name)
        .map_err(io_err)?;
    opts.say(&format!(
        "{} ({addr}): new host key {got} recorded in {}",
        t.name,
        known.path().display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed25519_blob() -> Vec<u8> {
        let key = ssh_key::PrivateKey::random(
            &mut ssh_key::rand_core::OsRng,
            ssh_key::Algorithm::Ed25519,
        )
        .unwrap();
        key.public_key().to_bytes().unwrap()
    }

    fn target() -> Target {
        Target {
            name: "m1".into(),
            address: "10.0.0.7".parse().unwrap(),
            port: 22,
            user: "root".into(),
            key_file: None,
            password: None,
            agent: false,
        }
    }

    fn check(text: &str, blob: &[u8], policy: HostKeyPolicy) -> (Result<(), SshError>, String) {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let text = text.replace(
            "KEY",
            &base64::engine::general_purpose::STANDARD.encode(blob),
        );
        std::fs::write(&path, &text).unwrap();
        let known = KnownHosts::new(&path);
        let opts = ConnectOptions {
            notify: Some(std::sync::Arc::new(|_: &str| {})),
            confirm_new_host: Some(std::sync::Arc::new(|_: &Target, _: &str| {
                Err("nobody to ask".to_string())
            })),
            ..Default::default()
        };
        let r = verify_host_key(
            &target(),
            &HostCheck::Known {
                known: &known,
                policy,
            },
            &opts,
            blob,
        );
        (r, std::fs::read_to_string(&path).unwrap())
    }

    #[test]
    fn a_revoked_key_is_refused_whatever_the_policy() {
        let blob = ed25519_blob();
        for policy in [HostKeyPolicy::TrustOnFirstUse, HostKeyPolicy::AcceptNew] {
            let (r, after) = check("@revoked 10.0.0.7 ssh-ed25519 KEY\n", &blob, policy);
            let e = r.unwrap_err();
            assert!(matches!(e, SshError::HostKeyRevoked { line: 1, .. }), "{e}");
            assert!(e.to_string().contains("REVOKED"), "{e}");
            assert_eq!(after.lines().count(), 1, "nothing learned");
            // listed as known too: revoked wins
            let (r, _) = check(
                "10.0.0.7 ssh-ed25519 KEY\n@revoked * ssh-ed25519 KEY\n",
                &blob,
                policy,
            );
            assert!(matches!(r, Err(SshError::HostKeyRevoked { line: 2, .. })));
        }
        // another host's revoked key does not count, and a revoked line is not a known key
        let (r, _) = check(
            "@revoked 10.0.0.8 ssh-ed25519 KEY\n",
            &blob,
            HostKeyPolicy::AcceptNew,
        );
        assert!(r.is_ok());
    }

    #[test]
    fn a_hashed_line_is_known_and_not_learned_again() {
        use base64::Engine;
        let blob = ed25519_blob();
        let salt = b"salt-of-twenty-bytes";
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt),
            b"10.0.0.7",
        );
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let text = format!("|1|{}|{} ssh-ed25519 KEY\n", b64(salt), b64(tag.as_ref()));
        let (r, after) = check(&text, &blob, HostKeyPolicy::TrustOnFirstUse);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(after.lines().count(), 1, "re-learned: {after}");
        // and a different key under the hashed name is a mismatch, not a new host
        let recorded = text.replace("KEY", &b64(&blob));
        let (r, _) = check(&recorded, &ed25519_blob(), HostKeyPolicy::AcceptNew);
        assert!(
            matches!(r, Err(SshError::HostKeyMismatch { line: 1, .. })),
            "{r:?}"
        );
    }

    #[test]
    fn an_unknown_host_refused_by_the_prompt_is_not_recorded() {
        let blob = ed25519_blob();
        let (r, after) = check("# empty\n", &blob, HostKeyPolicy::TrustOnFirstUse);
        let e = r.unwrap_err();
        assert!(e.to_string().contains("nobody to ask"), "{e}");
        assert!(e.to_string().contains("--accept-new-host-keys"), "{e}");
        assert_eq!(after, "# empty\n");
        // --accept-new-host-keys: recorded without asking
        let (r, after) = check("", &blob, HostKeyPolicy::AcceptNew);
        assert!(r.is_ok());
        assert!(after.starts_with("10.0.0.7 ssh-ed25519 "), "{after}");
    }

    #[test]
    fn the_type_is_read_from_the_blob() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        blob.extend_from_slice(&[7; 32]);
        assert_eq!(blob_type(&blob), "ssh-ed25519");
        assert_eq!(blob_type(b"xx"), "unknown");
        assert_eq!(blob_type(&[0, 0, 0, 50, b'a']), "unknown");
    }
}
