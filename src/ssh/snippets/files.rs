//! Files on a node, as root: reading one, moving uploaded files into place with owner and
//! mode, making missing folders, and reading back modes and checksums.

use crate::ssh::shell::quote;

/// Exit status of [`read`] when the file is absent.
pub const ABSENT_STATUS: i32 = 78;

/// Prints the content of `path`; exits [`ABSENT_STATUS`] when it does not exist.
pub fn read(path: &str) -> String {
    let p = quote(path);
    format!("if [ -e {p} ]; then exec cat -- {p}; else exit {ABSENT_STATUS}; fi")
}

/// Logged in as another user than root: `folders` ([`make_folders`]) first, then copies
/// the upload `staged` (the login user's, in /tmp) to `beside` (next to `target`) owned by
/// root with `mode`, moves it over `target`, and removes both temporary files.
pub fn install_from_tmp(
    folders: &str,
    staged: &str,
    beside: &str,
    target: &str,
    mode: u32,
) -> String {
    let (s, t) = (quote(staged), quote(beside));
    format!(
        "{folders}\ninstall -o 0 -g 0 -m {mode:04o} {s} {t} && mv -f {t} {p}\nrc=$?\nrm -f {s} {t}\nexit $rc",
        p = quote(target)
    )
}

/// Gives each staged file (staged name, target, mode) root's ownership and its mode and
/// moves it over its target; stops at the first failure, naming the file, and removes
/// every staged file still there.
pub fn install_staged(staged: &[(String, &str, u32)]) -> String {
    let mut lines = vec!["rc=0".to_string()];
    for (t, p, mode) in staged {
        let (t, p) = (quote(t), quote(p));
        lines.push(format!(
            "[ $rc -ne 0 ] || {{ chown 0:0 {t} && chmod {mode:04o} {t} && mv -f {t} {p}; }} || {{ rc=$?; echo \"failed to install \"{p} >&2; }}"
        ));
    }
    let all: Vec<String> = staged.iter().map(|(t, _, _)| quote(t)).collect();
    lines.push(format!("[ $rc -eq 0 ] || rm -f {}", all.join(" ")));
    lines.push("exit $rc".into());
    lines.join("\n")
}

/// Makes each missing folder of the absolute `dir`, top down, owned by root with the mode
/// `mode_of` gives it; existing ones are left as they are.
pub fn make_folders(dir: &str, mode_of: impl Fn(&str) -> u32) -> String {
    let mut lines = Vec::new();
    let mut current = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        current.push('/');
        current.push_str(part);
        let q = quote(&current);
        lines.push(format!(
            "[ -d {q} ] || install -d -o 0 -g 0 -m {:04o} {q} || exit 1",
            mode_of(&current)
        ));
    }
    if lines.is_empty() {
        ":".to_string()
    } else {
        lines.join("\n")
    }
}

/// Prints what the node has of `paths`: `M <mode> <path>` and `sha256sum` lines, for the
/// files that exist (two processes in all, however many files).
pub fn observe(paths: &[&str]) -> String {
    let words: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    format!(
        "set --; for f in {}; do [ -f \"$f\" ] && set -- \"$@\" \"$f\"; done; \
         [ $# -eq 0 ] || {{ stat -c 'M %a %n' -- \"$@\" && sha256sum -- \"$@\"; }}",
        words.join(" ")
    )
}

/// `sha256sum` of `path` (fails when it is missing).
pub fn sha256(path: &str) -> String {
    format!("sha256sum {}", quote(path))
}

/// `sha256sum` of `path` when it is a file; nothing, and success, when it is not.
pub fn sha256_if_file(path: &str) -> String {
    format!("if [ -f {p} ]; then sha256sum {p}; fi", p = quote(path))
}

#[cfg(test)]
mod tests {
    use super::super::test_sh::{HOSTILE, assert_not_pwned, parses, run_in};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// sha256 of `x`.
    const SHA_X: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

    fn mode(p: &str) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// Outside a root login `chown 0:0` / `install -o 0 -g 0` would fail: run the rest.
    fn as_user(script: &str) -> String {
        script
            .replace("chown 0:0", "true")
            .replace("-o 0 -g 0 ", "")
    }

    #[test]
    fn read_prints_a_file_or_says_absent() {
        assert_eq!(
            read("/etc/x"),
            "if [ -e /etc/x ]; then exec cat -- /etc/x; else exit 78; fi"
        );
        let dir = tempfile::tempdir().unwrap();
        for name in HOSTILE {
            let p = format!("{}/{name}", dir.path().display());
            let absent = run_in(dir.path(), &read(&p));
            assert_eq!(absent.status.code(), Some(ABSENT_STATUS), "{name}");
            std::fs::write(&p, name).unwrap();
            let out = run_in(dir.path(), &read(&p));
            assert!(out.status.success(), "{name}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), *name);
            assert_not_pwned(dir.path(), &read(&p));
        }
    }

    #[test]
    fn an_upload_in_tmp_is_installed_over_its_target_and_the_temporaries_go() {
        let s = install_from_tmp(":", "/tmp/.u-1", "/etc/.x.k-1", "/etc/x", 0o640);
        assert_eq!(
            s,
            ":\ninstall -o 0 -g 0 -m 0640 /tmp/.u-1 /etc/.x.k-1 && mv -f /etc/.x.k-1 /etc/x\nrc=$?\nrm -f /tmp/.u-1 /etc/.x.k-1\nexit $rc"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        for name in HOSTILE {
            let (staged, beside, target) = (
                format!("{d}/{name}.up"),
                format!("{d}/.{name}.k"),
                format!("{d}/{name}"),
            );
            std::fs::write(&staged, name).unwrap();
            let script = install_from_tmp(":", &staged, &beside, &target, 0o640);
            let out = run_in(dir.path(), &as_user(&script));
            assert!(out.status.success(), "{name}: {out:?}");
            assert_eq!(std::fs::read_to_string(&target).unwrap(), *name);
            assert_eq!(mode(&target), 0o640);
            assert!(!std::path::Path::new(&staged).exists());
            assert!(!std::path::Path::new(&beside).exists());
            assert_not_pwned(dir.path(), &script);
        }
    }

    #[test]
    fn staged_files_are_all_moved_or_the_script_stops_and_cleans_up() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().display().to_string();
        let stage = |name: &str| {
            let t = format!("{d}/.{name}.staged");
            std::fs::write(&t, name).unwrap();
            t
        };
        let (a, b) = (format!("{d}/a"), format!("{d}/b"));
        let staged = vec![
            (stage("a"), a.as_str(), 0o600),
            (stage("b"), b.as_str(), 0o644),
        ];
        let ok = run_in(root.path(), &as_user(&install_staged(&staged)));
        assert!(ok.status.success(), "{ok:?}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a");
        assert_eq!((mode(&a), mode(&b)), (0o600, 0o644));
        // the second target's folder is missing: exit non-zero, name it, nothing staged left
        let missing = format!("{d}/no/such/c");
        let staged = vec![
            (stage("x"), a.as_str(), 0o600),
            (stage("c"), missing.as_str(), 0o600),
            (stage("y"), b.as_str(), 0o600),
        ];
        let out = run_in(root.path(), &as_user(&install_staged(&staged)));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/c"));
        for (t, _, _) in &staged {
            assert!(!std::path::Path::new(t).exists(), "{t} left behind");
        }
        assert_eq!(
            std::fs::read_to_string(&b).unwrap(),
            "b",
            "stopped before y"
        );
    }

    #[test]
    fn staged_files_with_hostile_names_are_moved_as_named() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().display().to_string();
        let targets: Vec<String> = HOSTILE.iter().map(|n| format!("{d}/{n}")).collect();
        let staged: Vec<(String, &str, u32)> = targets
            .iter()
            .map(|t| {
                let s = format!("{t}.staged");
                std::fs::write(&s, t).unwrap();
                (s, t.as_str(), 0o600)
            })
            .collect();
        let script = install_staged(&staged);
        assert!(parses(&script), "{script}");
        let out = run_in(root.path(), &as_user(&script));
        assert!(out.status.success(), "{out:?}");
        for t in &targets {
            assert_eq!(&std::fs::read_to_string(t).unwrap(), t);
        }
        assert_not_pwned(root.path(), &script);
        // a failure names the target as it is
        for name in HOSTILE {
            let target = format!("{d}/no such/{name}");
            let staged = format!("{d}/{name}.again");
            std::fs::write(&staged, "x").unwrap();
            let script = install_staged(&[(staged, target.as_str(), 0o600)]);
            let out = run_in(root.path(), &as_user(&script));
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("failed to install {target}\n")),
                "{err}"
            );
            assert_not_pwned(root.path(), &script);
        }
    }

    #[test]
    fn missing_folders_are_made_top_down_with_their_modes() {
        let private = |p: &str| if p.ends_with("pki") { 0o700 } else { 0o755 };
        let script = make_folders("/etc/kubernetes/pki", private);
        assert_eq!(
            script,
            "[ -d /etc ] || install -d -o 0 -g 0 -m 0755 /etc || exit 1\n\
             [ -d /etc/kubernetes ] || install -d -o 0 -g 0 -m 0755 /etc/kubernetes || exit 1\n\
             [ -d /etc/kubernetes/pki ] || install -d -o 0 -g 0 -m 0700 /etc/kubernetes/pki || exit 1"
        );
        assert_eq!(make_folders("/", private), ":");
        let root = tempfile::tempdir().unwrap();
        for name in HOSTILE {
            let dir = format!("{}/{name}/pki", root.path().display());
            let script = make_folders(&dir, private);
            let out = run_in(root.path(), &as_user(&script));
            assert!(out.status.success(), "{name}: {out:?}");
            assert_eq!(mode(&dir), 0o700, "{name}");
            assert_not_pwned(root.path(), &script);
        }
    }

    #[test]
    fn observe_lists_modes_and_checksums_of_existing_files_only() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().display().to_string();
        let mut paths: Vec<String> = HOSTILE.iter().map(|n| format!("{d}/{n}")).collect();
        for p in &paths {
            std::fs::write(p, "x").unwrap();
        }
        paths.push(format!("{d}/missing"));
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let script = observe(&refs);
        let out = run_in(root.path(), &script);
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for p in &paths[..HOSTILE.len()] {
            assert!(text.contains(&format!("{SHA_X}  {p}\n")), "{p}: {text}");
            assert!(text.contains(&format!(" {p}\n")), "{p}: {text}");
        }
        assert!(!text.contains("missing"), "{text}");
        assert_not_pwned(root.path(), &script);
        assert!(observe(&["/a b", "/c"]).contains("for f in '/a b' /c; do"));
    }

    #[test]
    fn checksums_of_one_file_with_a_hostile_name() {
        assert_eq!(sha256("/v/s.db"), "sha256sum /v/s.db");
        assert_eq!(
            sha256_if_file("/v/s.db"),
            "if [ -f /v/s.db ]; then sha256sum /v/s.db; fi"
        );
        let root = tempfile::tempdir().unwrap();
        for name in HOSTILE {
            let p = format!("{}/{name}", root.path().display());
            let out = run_in(root.path(), &sha256_if_file(&p));
            assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
            assert!(!run_in(root.path(), &sha256(&p)).status.success());
            std::fs::write(&p, "x").unwrap();
            for script in [sha256(&p), sha256_if_file(&p)] {
                let out = run_in(root.path(), &script);
                assert!(String::from_utf8_lossy(&out.stdout).starts_with(SHA_X));
                assert_not_pwned(root.path(), &script);
            }
        }
    }
}
