//! Quoting for the remote POSIX shell, the guard every remote script that removes, moves
//! or unmounts starts with, and the random tokens used for temporary names and markers.

use ssh_key::rand_core::{OsRng, RngCore};

/// `s` as one word for `sh`: unchanged when it holds only safe characters, else in single
/// quotes (a `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Exit status of a script stopped by [`refuse_unsafe_paths`].
pub const UNSAFE_PATH_STATUS: i32 = 97;

/// The first line of every remote script that removes, moves or unmounts: it stops the
/// script (status [`UNSAFE_PATH_STATUS`], the path named on stderr) before anything runs
/// unless each of `paths` is absolute and holds a character other than `/` and `.`, and
/// has no `//`, `.` or `..` component. A second line of defence behind the config's
/// validation: an empty path, `/`, `//` or `/.` never reaches `rm -rf`, `mv` or `umount`.
pub fn refuse_unsafe_paths(paths: &[&str]) -> String {
    let words: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    format!(
        "for k8sm_p in {}; do case \"$k8sm_p\" in /*[!/.]*) case \"$k8sm_p\" in *//*|*/./*|*/.|*/../*|*/..) ;; *) continue;; esac;; esac; \
         echo \"k8s-manage: refusing to remove, move or unmount '$k8sm_p': not an absolute path of its own (empty, /, //, . or ..)\" >&2; exit {UNSAFE_PATH_STATUS}; done\n",
        if words.is_empty() {
            "''".to_string()
        } else {
            words.join(" ")
        }
    )
}

/// 16 random hex digits.
pub(crate) fn nonce() -> String {
    format!("{:016x}", OsRng.next_u64())
}

/// For tests of remote scripts: runs a script under `sh` locally with `rm`, `mv`,
/// `umount`, `find`, `mkdir`, `chmod`, `ls`, `sed` and `du` replaced by fakes that only
/// record their arguments, so a script that would remove, move or unmount shows it
/// without touching this machine.
#[cfg(test)]
pub(crate) mod recording_tools {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    pub(crate) const TOOLS: &[&str] = &[
        "rm", "mv", "umount", "find", "mkdir", "chmod", "ls", "sed", "du", "rmdir",
    ];

    /// Exit status and the recorded calls (`tool args...`, one a line).
    pub(crate) fn run(script: &str) -> (Option<i32>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls");
        for t in TOOLS {
            let p = dir.path().join(t);
            std::fs::write(
                &p,
                format!("#!/bin/sh\necho \"{t} $*\" >> '{}'\n", log.display()),
            )
            .unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        (out.status.code(), calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn quoted_words_survive_the_shell() {
        for word in [
            "plain",
            "/etc/kubernetes/pki/ca.crt",
            "",
            "two words",
            "it's",
            "'",
            "$(reboot)",
            "`id`",
            "a\nb",
            "\\n",
            "*",
            "--flag=x y",
        ] {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word, "{word:?}");
        }
        assert_eq!(quote("/etc/x"), "/etc/x");
        assert_eq!(quote("a b"), "'a b'");
    }

    /// Runs the guard, then a marker; the marker shows whether the script went on.
    fn guarded(paths: &[&str]) -> (bool, String) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{}echo went-on", refuse_unsafe_paths(paths)))
            .output()
            .unwrap();
        let went_on = String::from_utf8_lossy(&out.stdout).contains("went-on");
        assert_eq!(went_on, out.status.success());
        if !went_on {
            assert_eq!(out.status.code(), Some(UNSAFE_PATH_STATUS));
        }
        (went_on, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    fn the_guard_stops_before_an_empty_path_or_the_root() {
        for bad in [
            "",
            "/",
            "//",
            "/.",
            "/./",
            "/..",
            "///",
            "relative",
            ".",
            "..",
            "/var//lib",
            "/var/lib/etcd/.",
            "/var/lib/../etcd",
            "/a/./b",
        ] {
            let (went_on, err) = guarded(&["/etc/kubernetes", bad]);
            assert!(!went_on, "{bad:?} passed the guard");
            assert!(err.contains("refusing"), "{err}");
        }
        for good in [
            "/var/lib/etcd",
            "/var/lib/etcd/",
            "/tmp/k8s-manage-relay-ab12",
            "/my etcd",
            "/.etcd",
        ] {
            assert!(
                guarded(&[good, "/etc/kubernetes"]).0,
                "{good:?} was refused"
            );
        }
        assert!(!guarded(&[]).0, "no paths at all is refused too");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 16);
    }
}
