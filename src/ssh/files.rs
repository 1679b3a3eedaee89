//! Files on a node, as root: [`Session::put_file`] writes atomically (SFTP to a temporary
//! name created 0600, then owner, mode and `mv` over the target, so readers see the old or
//! the new file, never a part) and [`Session::read_file`] reads one (`None` when absent).
//!
//! Logged in as root, the temporary file is created beside the target. Otherwise it goes
//! to `/tmp` (0600, the login user's) and `install` copies it beside the target as root
//! before the `mv`. Missing parent folders are made 0755, or 0700 under
//! `/etc/kubernetes/pki`; existing ones are left as they are.

use std::time::{Duration, Instant};

use ssh2::{ErrorCode, OpenFlags, OpenType};

use super::error::SshError;
use super::nonblock::{IoStop, Stop, retry};
use super::session::Session;
use super::shell::nonce;
use super::snippets::files::{self as script, ABSENT_STATUS};

/// Folders made 0700 (with everything below them) when they are missing.
pub const PRIVATE_DIRS: &[&str] = &["/etc/kubernetes/pki"];

/// SFTP writes per call: large, so libssh2 pipelines its packets.
const SFTP_CHUNK: usize = 1 << 20;
const SFTP_NO_SUCH_FILE: i32 = 2;

/// Time allowed for a file of `len` bytes: a minute, plus a second per MiB.
fn transfer_timeout(len: usize) -> Duration {
    Duration::from_secs(60 + (len as u64 >> 20))
}

enum UploadError {
    /// The folder does not exist.
    NoFolder,
    Other(SshError),
}

impl Session {
    /// Write `contents` to `path` (absolute) as root with `mode`, atomically; see the
    /// module docs.
    pub fn put_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), SshError> {
        let step = format!("write {path}");
        let (dir, name) = split_path(path).map_err(|e| SshError::io(self.host(), &step, e))?;
        let deadline = Instant::now() + transfer_timeout(contents.len());
        let left = || deadline.saturating_duration_since(Instant::now());
        let mode = mode & 0o7777;
        let n = nonce();
        let beside = join(dir, &format!(".{name}.k8s-manage-{n}"));

        if self.target.is_root() {
            return self.install_as_root(&[(path, contents, mode)]);
        }

        let staged = format!("/tmp/.k8s-manage-upload-{n}");
        self.upload(&step, &staged, contents, deadline)
            .map_err(|e| match e {
                UploadError::NoFolder => SshError::io(self.host(), &step, "/tmp does not exist"),
                UploadError::Other(e) => e,
            })?;
        let folders = script::make_folders(dir, folder_mode);
        let install = script::install_from_tmp(&folders, &staged, &beside, path, mode);
        let result = self.run_root(&step, &install, left());
        if result.is_err() {
            self.remove_staged(&staged);
        }
        result.map(|_| ())
    }

    /// Write several files as [`Session::put_file`] does. Logged in as root, with one
    /// command for all of them instead of one each (see [`Session::install_as_root`]);
    /// otherwise one [`Session::put_file`] per file.
    pub fn put_files(&self, files: &[(String, Vec<u8>, u32)]) -> Result<(), SshError> {
        if self.target.is_root() {
            let files: Vec<(&str, &[u8], u32)> = files
                .iter()
                .map(|(p, c, m)| (p.as_str(), c.as_slice(), *m))
                .collect();
            return self.install_as_root(&files);
        }
        for (p, c, m) in files {
            self.put_file(p, c, *m)?;
        }
        Ok(())
    }

    /// Logged in as root: upload every file beside its target (making a missing folder
    /// and retrying once), then owners, modes and the `mv`s in one script; a failure
    /// removes what was staged. Each file is replaced atomically; the set is not (a failure
    /// part-way leaves some new, some old, and the error names the file).
    fn install_as_root(&self, files: &[(&str, &[u8], u32)]) -> Result<(), SshError> {
        let step = match files {
            [(path, _, _)] => format!("write {path}"),
            _ => format!("write {} files", files.len()),
        };
        let total: usize = files.iter().map(|(_, c, _)| c.len()).sum();
        let deadline = Instant::now() + transfer_timeout(total);
        let left = || deadline.saturating_duration_since(Instant::now());
        let n = nonce();
        let mut staged: Vec<(String, &str, u32)> = Vec::new();
        let result = (|| {
            for &(path, contents, mode) in files {
                let write = format!("write {path}");
                let (dir, name) =
                    split_path(path).map_err(|e| SshError::io(self.host(), &write, e))?;
                let beside = join(dir, &format!(".{name}.k8s-manage-{n}"));
                match self.upload(&write, &beside, contents, deadline) {
                    Ok(()) => {}
                    Err(UploadError::Other(e)) => return Err(e),
                    Err(UploadError::NoFolder) => {
                        self.run_root(&write, &script::make_folders(dir, folder_mode), left())?;
                        self.upload(&write, &beside, contents, deadline)
                            .map_err(|e| match e {
                                UploadError::NoFolder => SshError::io(
                                    self.host(),
                                    &write,
                                    format!("{dir} still does not exist after creating it"),
                                ),
                                UploadError::Other(e) => e,
                            })?;
                    }
                }
                staged.push((beside, path, mode & 0o7777));
            }
            self.run_root(&step, &script::install_staged(&staged), left())
                .map(|_| ())
        })();
        if result.is_err() {
            for (t, _, _) in &staged {
                self.remove_staged(t);
            }
        }
        result
    }

    /// The content of `path`, read as root; `None` when it does not exist.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, SshError> {
        let step = format!("read {path}");
        let out = self.exec_root(&step, &script::read(path), None, transfer_timeout(0))?;
        match out.status {
            0 => Ok(Some(out.stdout)),
            ABSENT_STATUS if out.stdout.is_empty() => Ok(None),
            _ => self.check(&step, out).map(|o| Some(o.stdout)),
        }
    }

    /// SFTP `contents` to a new file `remote` (0600, refused when it exists).
    fn upload(
        &self,
        step: &str,
        remote: &str,
        contents: &[u8],
        deadline: Instant,
    ) -> Result<(), UploadError> {
        let sh = &self.shared;
        let host = self.host();
        let timed_out = || {
            UploadError::Other(SshError::Timeout {
                host: host.to_string(),
                step: step.to_string(),
                after: transfer_timeout(contents.len()),
            })
        };
        let failed = |what: String, e: &dyn std::fmt::Display| {
            UploadError::Other(SshError::io(host, format!("{step}: {what}"), e))
        };
        let mut guard = sh.sftp.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let _one_at_a_time = sh.setup.lock().unwrap_or_else(|e| e.into_inner());
            let sftp = retry(&sh.sess, sh.fd, deadline, || sh.sess.sftp()).map_err(|s| match s {
                Stop::TimedOut => timed_out(),
                Stop::Failed(e) => UploadError::Other(SshError::io(
                    host,
                    format!("{step}: starting SFTP"),
                    format!(
                        "{}; fix: enable the sftp subsystem in {host}'s sshd_config (`Subsystem sftp internal-sftp`)",
                        e.message()
                    ),
                )),
            })?;
            *guard = Some(sftp);
        }
        let sftp = guard.as_ref().expect("just set");
        super::requests::upload();
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        let mut file = retry(&sh.sess, sh.fd, deadline, || {
            sftp.open_mode(remote, flags, 0o600, OpenType::File)
        })
        .map_err(|s| match s {
            Stop::TimedOut => timed_out(),
            Stop::Failed(e) if e.code() == ErrorCode::SFTP(SFTP_NO_SUCH_FILE) => {
                UploadError::NoFolder
            }
            Stop::Failed(e) => failed(format!("creating {remote} over SFTP"), &e),
        })?;
        let written = self.write_all_until(&mut file, contents, deadline, SFTP_CHUNK);
        // fsync@openssh.com: the data is on disk before the rename makes it visible.
        let synced = written
            .is_ok()
            .then(|| retry(&sh.sess, sh.fd, deadline, || file.fsync()));
        let closed = retry(&sh.sess, sh.fd, deadline, || file.close());
        let cleanup = |e: UploadError| {
            let _ = retry(
                &sh.sess,
                sh.fd,
                Instant::now() + Duration::from_secs(5),
                || sftp.unlink(std::path::Path::new(remote)),
            );
            e
        };
        match written {
            Ok(()) => {}
            Err(IoStop::TimedOut) => return Err(cleanup(timed_out())),
            Err(IoStop::Failed(e)) => {
                return Err(cleanup(failed(format!("writing {remote} over SFTP"), &e)));
            }
        }
        if let Some(Err(Stop::TimedOut)) = synced {
            return Err(cleanup(timed_out()));
        }
        match closed {
            Ok(()) => Ok(()),
            Err(Stop::TimedOut) => Err(cleanup(timed_out())),
            Err(Stop::Failed(e)) => Err(cleanup(failed(format!("closing {remote}"), &e))),
        }
    }

    /// Best effort: remove a staged upload after a failure.
    fn remove_staged(&self, staged: &str) {
        let sh = &self.shared;
        if let Ok(guard) = sh.sftp.lock()
            && let Some(sftp) = guard.as_ref()
        {
            let _ = retry(
                &sh.sess,
                sh.fd,
                Instant::now() + Duration::from_secs(5),
                || sftp.unlink(std::path::Path::new(staged)),
            );
        }
    }
}

/// The folder and the file name of an absolute, normalized path.
fn split_path(path: &str) -> Result<(&str, &str), String> {
    let bad = |why: &str| Err(format!("{path:?} {why}"));
    if !path.starts_with('/') {
        return bad("is not an absolute path");
    }
    if path.ends_with('/') {
        return bad("names a folder, not a file");
    }
    if path.contains('\0') || path.contains('\n') {
        return bad("contains a NUL or newline character");
    }
    if path
        .split('/')
        .skip(1)
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("is not normalized (empty, `.` or `..` parts)");
    }
    let cut = path.rfind('/').expect("absolute");
    let dir = if cut == 0 { "/" } else { &path[..cut] };
    Ok((dir, &path[cut + 1..]))
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The mode a missing folder is made with.
fn folder_mode(dir: &str) -> u32 {
    let private = PRIVATE_DIRS.iter().any(|p| {
        dir == *p
            || dir
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    if private { 0o700 } else { 0o755 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_split_and_checked() {
        assert_eq!(
            split_path("/etc/kubernetes/pki/ca.crt").unwrap(),
            ("/etc/kubernetes/pki", "ca.crt")
        );
        assert_eq!(split_path("/x").unwrap(), ("/", "x"));
        for bad in ["etc/x", "/etc/", "/etc/../x", "/etc//x", "/a/./b", "/a\nb"] {
            assert!(split_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/etc", "x"), "/etc/x");
    }

    #[test]
    fn pki_folders_are_private() {
        assert_eq!(folder_mode("/etc/kubernetes/pki"), 0o700);
        assert_eq!(folder_mode("/etc/kubernetes/pki/etcd"), 0o700);
        assert_eq!(folder_mode("/etc/kubernetes/pkix"), 0o755);
        assert_eq!(folder_mode("/etc/kubernetes"), 0o755);
        let script = script::make_folders("/etc/kubernetes/pki/etcd", folder_mode);
        assert_eq!(script.lines().count(), 4);
        assert!(
            script.contains("-m 0700 /etc/kubernetes/pki/etcd"),
            "{script}"
        );
        assert!(script.contains("-m 0755 /etc/kubernetes ||"), "{script}");
        assert!(transfer_timeout(10 << 20) > transfer_timeout(0));
    }
}
