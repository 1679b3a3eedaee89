//! Checking the server's host key: against known_hosts under a [`HostKeyPolicy`]
//! (recording new keys and saying so, refusing changed ones), or against the key a first
//! session presented. Also asks the server for the recorded key type first.

use std::path::Path;
use std::sync::Mutex;

use ssh2::MethodType;

use super::error::SshError;
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
        HostCheck::Known { known, policy } if *policy != HostKeyPolicy::InsecureIgnore => known
            .lookup(t.address, t.port)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.key_type)
            .collect(),
        HostCheck::Known { .. } => Vec::new(),
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
    let keys = known.lookup(t.address, t.port).map_err(io_err)?;
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
        if !confirm(t, &fingerprint(blob)) {
            return Err(SshError::UnknownHostRefused {
                host: t.name.clone(),
                address: t.address,
                port: t.port,
                fingerprint: got,
                known_hosts_path: known.path().to_path_buf(),
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
