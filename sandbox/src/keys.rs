//! SSH keys of a sandbox: the client key pair the deploy logs in with
//! (`DIR/.k8s-manage/sandbox/id_ed25519`, mode 0600) and one host key per node.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};

use super::error::{IoContext, SandboxError};

/// An ed25519 key pair in OpenSSH formats.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key, OpenSSH PEM (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub private_openssh: String,
    /// The public key line (`ssh-ed25519 AAAA... comment`).
    pub public_openssh: String,
}

/// A fresh random ed25519 key pair.
pub fn generate(comment: &str) -> Result<KeyPair, SandboxError> {
    let key_error = |reason: String| SandboxError::Key {
        path: PathBuf::from("(new key)"),
        reason,
    };
    let mut key =
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(|e| key_error(e.to_string()))?;
    key.set_comment(comment);
    let private_openssh = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| key_error(e.to_string()))?
        .to_string();
    let public_openssh = key
        .public_key()
        .to_openssh()
        .map_err(|e| key_error(e.to_string()))?;
    Ok(KeyPair {
        private_openssh,
        public_openssh,
    })
}

/// The sandbox's client key: read from `path` (and `path.pub`) when it exists, else
/// generated and written there (private key 0600, public key 0644, directory 0700).
pub fn ensure_client_key(path: &Path, comment: &str) -> Result<KeyPair, SandboxError> {
    let pub_path = path.with_extension("pub");
    if path.exists() {
        let private_openssh = fs::read_to_string(path).io("reading", path)?;
        let key = PrivateKey::from_openssh(&private_openssh).map_err(|e| SandboxError::Key {
            path: path.to_path_buf(),
            reason: format!("not an OpenSSH private key: {e}"),
        })?;
        let public_openssh = key
            .public_key()
            .to_openssh()
            .map_err(|e| SandboxError::Key {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        // Keep the mode strict even when someone loosened it: ssh clients refuse such keys.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).io("chmod 0600", path)?;
        if !pub_path.exists() {
            fs::write(&pub_path, format!("{public_openssh}\n")).io("writing", &pub_path)?;
        }
        return Ok(KeyPair {
            private_openssh,
            public_openssh,
        });
    }
    let pair = generate(comment)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).io("creating", dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).io("chmod 0700", dir)?;
    }
    write_private(path, &pair.private_openssh)?;
    fs::write(&pub_path, format!("{}\n", pair.public_openssh)).io("writing", &pub_path)?;
    Ok(pair)
}

/// Write a file only its owner may read (a private key, a known_hosts), 0600 from its
/// creation on: whatever was at `path` is removed first, and missing folders are made.
pub fn write_private(path: &Path, content: &str) -> Result<(), SandboxError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).io("creating", dir)?;
    }
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .io("creating", path)?;
    file.write_all(content.as_bytes()).io("writing", path)?;
    // The umask may have taken bits from the mode asked for.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).io("chmod 0600", path)
}

/// The known_hosts text for nodes: one `address key-type key` line each.
pub fn known_hosts(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (address, public_openssh) in entries {
        // Drop the comment: known_hosts lines are `host type base64`.
        let mut parts = public_openssh.split_whitespace();
        let (Some(kind), Some(data)) = (parts.next(), parts.next()) else {
            continue;
        };
        out.push_str(&format!("{address} {kind} {data}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_key_is_made_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/id_ed25519");
        let first = ensure_client_key(&path, "test").unwrap();
        assert!(first.public_openssh.starts_with("ssh-ed25519 "));
        assert!(first.private_openssh.contains("BEGIN OPENSSH PRIVATE KEY"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let pub_file = fs::read_to_string(path.with_extension("pub")).unwrap();
        assert_eq!(pub_file.trim(), first.public_openssh);
        let second = ensure_client_key(&path, "test").unwrap();
        assert_eq!(first.public_openssh, second.public_openssh);
    }

    #[test]
    fn a_private_file_replaces_a_looser_one_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/known_hosts");
        write_private(&path, "a\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "b\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "b\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn known_hosts_lines_drop_the_comment() {
        let a = generate("node-a").unwrap();
        let text = known_hosts(&[("172.30.0.11".into(), a.public_openssh.clone())]);
        let fields: Vec<&str> = text.trim().split(' ').collect();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0], "172.30.0.11");
        assert_eq!(fields[1], "ssh-ed25519");
        assert!(a.public_openssh.contains(fields[2]));
    }
}
