//! One job: every shell text the tool runs on a node, each built by a function here from
//! typed arguments (paths, names, numbers) with every interpolated value through
//! [`quote`], and each tested here: its text, and where it takes a path or name, a hostile
//! one (spaces, `'`, `$(...)`) that must stay one word, checked by running the snippet
//! under `sh` against a temporary folder, with `sh -n`, or with the recording tools of
//! [`shell`](super::shell) when it would remove or move things.
//!
//! The callers (`ssh`, `run`, `etcd`, `relay`) import this module; it imports none of them,
//! only [`super::shell`].
//!
//! - [`root`]: the sudo wrappers that run a command as root.
//! - [`files`]: reading a file, moving uploads into place, making folders, reading back
//!   modes and checksums.
//! - [`probes`]: read-only questions to a node: preflight facts, the Docker socket, the
//!   GPU driver and runtime, TLS health endpoints on its loopback.
//! - [`clean`]: unmounting and removing the folders the tool owns.
//! - [`etcd`]: moving an etcd data dir aside, a restore's staging dir, room for snapshot
//!   copies.
//! - [`relay`]: the image relay's receiver, set-up, receipt query and clean-up.
//!
//! The one exception: the database steps of `service` (`src/service/`) are shell too, but
//! they run in pods through the Kubernetes API's exec, not on nodes over SSH, so they stay
//! with the step definitions they belong to.
//!
//! [`quote`]: super::shell::quote

pub mod clean;
pub mod etcd;
pub mod files;
pub mod probes;
pub mod relay;
pub mod root;

/// Helpers for the snippets' tests: running a snippet under `sh`, hostile names.
#[cfg(test)]
pub(crate) mod test_sh {
    use std::path::Path;
    use std::process::{Command, Output};

    /// File names a shell would split, glob, expand or run unless quoted. Any of them
    /// expanded makes a file `pwned` in the current folder.
    pub(crate) const HOSTILE: &[&str] = &[
        "sp ace",
        "it's",
        "$(touch pwned)",
        "`touch pwned`",
        "a;touch pwned",
        "\"$(touch pwned)\"",
        "*",
    ];

    /// Runs `script` under `sh -c` in `dir`, with `dir` first on PATH (for fake tools) and
    /// as HOME.
    pub(crate) fn run_in(dir: &Path, script: &str) -> Output {
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", dir)
            .output()
            .unwrap()
    }

    /// [`run_in`], asserting that the script succeeded; its stdout.
    pub(crate) fn run_ok(dir: &Path, script: &str) -> String {
        let out = run_in(dir, script);
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The names in `dir`, sorted.
    pub(crate) fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// `sh -n`: the script parses.
    pub(crate) fn parses(script: &str) -> bool {
        Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script)
            .status()
            .unwrap()
            .success()
    }

    /// An executable `name` in `dir` with `body` after the `#!/bin/sh` line.
    pub(crate) fn fake_tool(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Asserts that nothing in `dir` was made by an expanded [`HOSTILE`] name.
    pub(crate) fn assert_not_pwned(dir: &Path, script: &str) {
        assert!(!dir.join("pwned").exists(), "a name was expanded: {script}");
    }
}
