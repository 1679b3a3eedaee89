//! `DIR/.k8s-manage/known_hosts`: host keys in OpenSSH's format (`host[,host] type base64
//! [comment]`, `[host]:port` for ports other than 22), kept 0600. Plain host patterns with
//! `*`, `?` and `!`, hashed host names (`|1|salt|hash`, HMAC-SHA1 as `ssh-keygen -H`
//! writes them) and `@revoked` lines (a key never to accept for the hosts they name) are
//! understood; `@cert-authority` lines are skipped (this tool does not use host
//! certificates).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

/// A known_hosts file.
#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
    /// Serializes reads and appends from the threads of one process.
    lock: Mutex<()>,
}

/// One key line for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHost {
    /// 1-based line number.
    pub line: usize,
    /// Key type as written (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...).
    pub key_type: String,
    /// The public key blob (the decoded base64 field).
    pub blob: Vec<u8>,
    /// An `@revoked` line: this key must never be accepted for the host.
    pub revoked: bool,
}

impl KnownHost {
    /// `SHA256:...`, or a note when the line's key is unreadable.
    pub fn fingerprint(&self) -> String {
        if self.blob.is_empty() {
            "(an unreadable key)".to_string()
        } else {
            fingerprint(&self.blob)
        }
    }
}

/// OpenSSH's fingerprint of a public key blob: `SHA256:` and unpadded base64.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The host field OpenSSH writes for an address and port.
pub fn host_field(address: IpAddr, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

impl KnownHosts {
    pub fn new(path: impl Into<PathBuf>) -> KnownHosts {
        KnownHosts {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// `DIR/.k8s-manage/known_hosts` of a config dir.
    pub fn in_config_dir(dir: &Path) -> KnownHosts {
        KnownHosts::new(dir.join(".k8s-manage").join("known_hosts"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key recorded for `address:port`. A missing file lists none.
    pub fn lookup(&self, address: IpAddr, port: u16) -> io::Result<Vec<KnownHost>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(parse_for(&text, &host_field(address, port)))
    }

    /// Append a key for `address:port` (the comment is usually the host name). Creates the
    /// file (0600) and its folder (0700) when missing.
    pub fn add(
        &self,
        address: IpAddr,
        port: u16,
        key_type: &str,
        blob: &[u8],
        comment: &str,
    ) -> io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parent) = self.path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            fs::create_dir_all(parent)?;
            fs::set_permissions(parent, fs::Permissions::from_mode(0o700))?;
        }
        let needs_newline = match fs::read(&self.path) {
            Ok(bytes) => !bytes.is_empty() && !bytes.ends_with(b"\n"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        let comment: String = comment
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect();
        let mut line = String::new();
        if needs_newline {
            line.push('\n');
        }
        line.push_str(&format!(
            "{} {key_type} {}",
            host_field(address, port),
            STANDARD.encode(blob)
        ));
        if !comment.is_empty() {
            line.push(' ');
            line.push_str(&comment);
        }
        line.push('\n');
        file.write_all(line.as_bytes())?;
        file.sync_all()
    }
}

/// The keys in `text` whose host patterns (or hashed host name) match `host`.
fn parse_for(text: &str, host: &str) -> Vec<KnownHost> {
    let mut found = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut revoked = false;
        if let Some(marker) = line.strip_prefix('@') {
            let (name, rest) = marker
                .split_once(char::is_whitespace)
                .unwrap_or((marker, ""));
            if name != "revoked" {
                continue; // @cert-authority: host certificates are not used
            }
            revoked = true;
            line = rest.trim_start();
        }
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(key_type), Some(data)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let matched = if hosts.starts_with('|') {
            hashed_match(hosts, host)
        } else {
            hosts_match(hosts, host)
        };
        if !matched {
            continue;
        }
        // A key that does not decode still claims the host: it matches nothing, so the
        // host's real key is a mismatch rather than a silently trusted new key.
        let blob = STANDARD.decode(data).unwrap_or_default();
        found.push(KnownHost {
            line: i + 1,
            key_type: key_type.to_string(),
            blob,
            revoked,
        });
    }
    found
}

/// A hashed host field, `|1|<base64 salt>|<base64 HMAC-SHA1(salt, host)>`, names `host`.
fn hashed_match(field: &str, host: &str) -> bool {
    let mut parts = field.split('|');
    let (Some(""), Some("1"), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, host.as_bytes(), &hash).is_ok()
}

/// OpenSSH's host pattern list: a match of any positive pattern and of no negated one.
fn hosts_match(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, host) {
                return false;
            }
        } else if glob(pattern, host) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcards, case-insensitive.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_by_address_and_port() {
        let text = "# comment\n\
                    10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne master1\n\
                    [10.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo\n\
                    10.0.0.2,10.0.0.3 ssh-rsa AAAAB3NzaC1yc2E=\n\
                    |1|abc=|def= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne\n\
                    @revoked 10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne\n\
                    10.0.0.* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIThreeAA\n\
                    10.0.0.*,!10.0.0.9 ecdsa-sha2-nistp256 AAAAE2VjZHNh\n";
        let one = parse_for(text, "10.0.0.1");
        assert_eq!(
            one.iter().map(|k| k.line).collect::<Vec<_>>(),
            vec![2, 6, 7, 8]
        );
        assert!(one[1].revoked && !one[0].revoked);
        assert_eq!(one[0].key_type, "ssh-ed25519");
        assert_eq!(
            parse_for(text, "[10.0.0.1]:2222")
                .iter()
                .map(|k| k.line)
                .collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(parse_for(text, "10.0.0.3")[0].line, 4);
        assert_eq!(parse_for(text, "10.0.0.9").len(), 1, "negated pattern");
        assert!(parse_for(text, "192.168.1.1").is_empty());
        let broken = parse_for("10.0.0.5 ssh-ed25519 not*base64\n", "10.0.0.5");
        assert_eq!(broken.len(), 1, "an unreadable key still claims its host");
        assert!(broken[0].blob.is_empty());
        assert!(broken[0].fingerprint().contains("unreadable"));
    }

    /// Lines written by `ssh-keygen -H` (OpenSSH 9.2): the salt and hash of "10.0.0.7"
    /// and of "[10.0.0.7]:2222", computed with HMAC-SHA1 as OpenSSH does.
    #[test]
    fn hashed_host_names_are_matched() {
        let line = |salt: &[u8], host: &str| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            let tag = ring::hmac::sign(&key, host.as_bytes());
            format!(
                "|1|{}|{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHashed\n",
                STANDARD.encode(salt),
                STANDARD.encode(tag.as_ref())
            )
        };
        let text = line(b"0123456789abcdefghij", "10.0.0.7")
            + &line(b"another-salt-20bytes", "[10.0.0.7]:2222");
        assert_eq!(parse_for(&text, "10.0.0.7").len(), 1);
        assert_eq!(parse_for(&text, "[10.0.0.7]:2222")[0].line, 2);
        assert!(parse_for(&text, "10.0.0.8").is_empty());
        assert!(parse_for("|1|bad|base64 ssh-ed25519 AAAA\n", "10.0.0.7").is_empty());
        // a key learned under a hashed name is known: not learned again
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, &text).unwrap();
        let known = KnownHosts::new(&path);
        assert_eq!(
            known.lookup("10.0.0.7".parse().unwrap(), 22).unwrap().len(),
            1
        );
    }

    #[test]
    fn globs() {
        assert!(glob("10.0.*", "10.0.3.4"));
        assert!(glob("10.0.0.?", "10.0.0.7"));
        assert!(!glob("10.0.0.?", "10.0.0.17"));
        assert!(glob("*", "anything"));
        assert!(glob("Node*", "node1"));
    }

    #[test]
    fn fingerprints_match_openssh() {
        let key = ssh_key::PrivateKey::random(
            &mut ssh_key::rand_core::OsRng,
            ssh_key::Algorithm::Ed25519,
        )
        .unwrap();
        let public = key.public_key();
        let blob = public.to_bytes().unwrap();
        assert_eq!(
            fingerprint(&blob),
            public.fingerprint(ssh_key::HashAlg::Sha256).to_string()
        );
    }

    #[test]
    fn added_keys_are_found_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownHosts::in_config_dir(dir.path());
        let addr: IpAddr = "172.30.0.11".parse().unwrap();
        assert!(known.lookup(addr, 22).unwrap().is_empty());
        known
            .add(addr, 22, "ssh-ed25519", b"blob-one", "master 1")
            .unwrap();
        known
            .add(addr, 2222, "ssh-ed25519", b"blob-two", "")
            .unwrap();
        let found = known.lookup(addr, 22).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].blob, b"blob-one");
        assert_eq!(known.lookup(addr, 2222).unwrap()[0].blob, b"blob-two");
        let text = fs::read_to_string(known.path()).unwrap();
        assert!(text.starts_with("172.30.0.11 ssh-ed25519 "), "{text}");
        assert!(text.contains(" master1\n"), "{text}");
        assert!(text.contains("[172.30.0.11]:2222 ssh-ed25519"), "{text}");
        let mode = fs::metadata(known.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(known.path().parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    #[test]
    fn a_file_without_a_final_newline_gets_one_before_the_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, "10.0.0.1 ssh-ed25519 AAAA").unwrap();
        let known = KnownHosts::new(&path);
        known
            .add("10.0.0.2".parse().unwrap(), 22, "ssh-ed25519", b"x", "n2")
            .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
