//! Building one pinned upstream module's programs with the Go toolchain, into the sandbox
//! cache (`<cache>/upstream/<program>-<version>-<hash>/bin/`), once: the folder is named
//! after the hash of everything that decides the binaries, so a second `sandbox up`
//! builds nothing. Builds are locked against concurrent builders and shown with progress
//! (packages compiled of the total, elapsed time and an estimate of what is left).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::modules::{GoModule, Package};
use crate::error::{IoContext, SandboxError, last_lines};
use crate::rootfs;

/// Bump when the way binaries are built changes, so cached builds are redone.
const FORMAT_VERSION: &str = "1";

/// The oldest Go that builds every pinned module (their `go` lines).
pub const MIN_GO: (u32, u32) = (1, 26);

/// How often a long build says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(20);

/// The linker flags of every build: stripped, static, plus the module's version stamps.
fn ldflags(module: &GoModule) -> String {
    let mut parts = vec!["-s".to_string(), "-w".to_string()];
    if module.program.cgo() {
        parts.push("-extldflags \"-static\"".to_string());
    }
    parts.extend(module.program.version_ldflags(module.version));
    parts.join(" ")
}

/// A short hash of everything that decides the binaries.
pub fn build_hash(module: &GoModule) -> String {
    let mut h = Sha256::new();
    for part in [
        FORMAT_VERSION,
        module.program.dir(),
        module.version,
        module.go_mod,
        module.go_sum,
        &ldflags(module),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in module.program.packages() {
        h.update(p.path.as_bytes());
        h.update(p.name.as_bytes());
        h.update([u8::from(p.test)]);
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Where the binaries of `module` are (or will be) cached.
pub fn build_dir(cache: &Path, module: &GoModule) -> PathBuf {
    cache.join("upstream").join(format!(
        "{}-{}-{}",
        module.program.dir(),
        module.version,
        build_hash(module)
    ))
}

/// The folder holding the binaries `names` of `module` (every one when `names` is empty),
/// building those the cache lacks first. Each binary is cached on its own (written under a
/// temporary name, then renamed), so a version needed only for some programs builds only
/// those.
pub async fn ensure_built(
    module: &GoModule,
    names: &[&str],
    progress: &dyn Fn(&str),
) -> Result<PathBuf, SandboxError> {
    let cache = rootfs::default_cache_dir();
    let dir = build_dir(&cache, module);
    let bin = dir.join("bin");
    let missing = || -> Vec<Package> {
        module
            .program
            .packages()
            .into_iter()
            .filter(|p| names.is_empty() || names.contains(&p.name))
            .filter(|p| !bin.join(p.name).is_file())
            .collect()
    };
    if missing().is_empty() {
        return Ok(bin);
    }
    let _lock = rootfs::lock(&dir.with_extension("lock")).await?;
    let todo = missing();
    if todo.is_empty() {
        return Ok(bin);
    }
    check_go(module).await?;
    let work = dir.join("module");
    std::fs::create_dir_all(&work).io("creating", &work)?;
    std::fs::write(work.join("go.mod"), module.go_mod).io("writing", work.join("go.mod"))?;
    std::fs::write(work.join("go.sum"), module.go_sum).io("writing", work.join("go.sum"))?;
    std::fs::create_dir_all(&bin).io("creating", &bin)?;
    let started = Instant::now();
    for package in &todo {
        let partial = bin.join(format!("{}.partial", package.name));
        build_one(module, &work, package, &partial, progress).await?;
        let done = bin.join(package.name);
        std::fs::rename(&partial, &done).io("moving into place", &done)?;
    }
    progress(&format!(
        "built {} ({} {}) in {}",
        todo.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
        module.program.dir(),
        module.version,
        minutes(started.elapsed())
    ));
    Ok(bin)
}

/// The environment of every `go` command: no workspace, no vendoring or flags of the
/// caller's, no cgo unless the program needs it (then linked statically).
fn go_command(work: &Path, cgo: bool) -> Command {
    let mut c = Command::new("go");
    c.current_dir(work)
        .env("GOWORK", "off")
        .env("GOFLAGS", "-mod=readonly")
        .env("CGO_ENABLED", if cgo { "1" } else { "0" })
        .stdin(Stdio::null());
    c
}

/// Refuse clearly when no Go toolchain new enough is installed.
async fn check_go(module: &GoModule) -> Result<(), SandboxError> {
    let missing = |found: String| SandboxError::Image {
        image: format!("{} {}", module.program.dir(), module.version),
        reason: format!(
            "building it from source needs Go {}.{} or newer, and {found}. Install Go (the \
             project's scripts/setup.sh says how), or run `sandbox up` where registry.k8s.io \
             answers, so the upstream images are pulled instead",
            MIN_GO.0, MIN_GO.1
        ),
    };
    let out = match Command::new("go").arg("version").output().await {
        Ok(o) => o,
        Err(_) => return Err(missing("no `go` command is on PATH".into())),
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match parse_go_version(&text) {
        Some(v) if v >= MIN_GO => Ok(()),
        Some((a, b)) => Err(missing(format!("`go version` says {a}.{b}"))),
        None => Err(missing(format!("`go version` printed {:?}", text.trim()))),
    }
}

/// `go version go1.26.8 linux/amd64` → (1, 26).
pub fn parse_go_version(text: &str) -> Option<(u32, u32)> {
    let word = text.split_whitespace().find(|w| w.starts_with("go1."))?;
    let mut it = word.trim_start_matches("go").split(['.', 'r', 'b']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The source folder of `path` (a module the pinned module requires), downloaded and
/// checked against go.sum by the Go toolchain.
pub async fn module_source(module: &GoModule, path: &str) -> Result<PathBuf, SandboxError> {
    let cache = rootfs::default_cache_dir();
    let work = build_dir(&cache, module).join("module");
    std::fs::create_dir_all(&work).io("creating", &work)?;
    std::fs::write(work.join("go.mod"), module.go_mod).io("writing", work.join("go.mod"))?;
    std::fs::write(work.join("go.sum"), module.go_sum).io("writing", work.join("go.sum"))?;
    check_go(module).await?;
    let out = go_command(&work, false)
        .args(["mod", "download", "-json", path])
        .output()
        .await
        .io("running go mod download in", &work)?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(SandboxError::Command {
            command: format!("go mod download -json {path}"),
            status: out.status.to_string(),
            output: last_lines(
                &format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
                20,
            ),
        });
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| SandboxError::Command {
        command: format!("go mod download -json {path}"),
        status: "unreadable output".into(),
        output: e.to_string(),
    })?;
    v["Dir"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| SandboxError::Command {
            command: format!("go mod download -json {path}"),
            status: "no source folder".into(),
            output: text.clone(),
        })
}

/// How many packages `go build` of `package` compiles at most (its dependencies).
async fn dependency_count(work: &Path, package: &str) -> Option<usize> {
    let out = go_command(work, false)
        .args(["list", "-deps", package])
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().count())
}

async fn build_one(
    module: &GoModule,
    work: &Path,
    package: &Package,
    output: &Path,
    progress: &dyn Fn(&str),
) -> Result<(), SandboxError> {
    let name = package.name;
    let total = dependency_count(work, package.path).await;
    progress(&format!(
        "building {name} ({} {}) from source{}",
        module.program.dir(),
        module.version,
        total
            .map(|t| format!(": up to {t} packages"))
            .unwrap_or_default()
    ));
    let mut cmd = go_command(work, module.program.cgo());
    if package.test {
        // A test binary; `go test` takes `-v` for the tests, so nothing names the packages
        // as they compile: progress is the elapsed time only.
        cmd.args(["test", "-c"]);
    } else {
        cmd.args(["build", "-v"]);
    }
    let mut child = cmd
        .args(["-trimpath", "-ldflags", &ldflags(module), "-o"])
        .arg(output)
        .arg(package.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SandboxError::Command {
            command: format!("go build {}", package.path),
            status: format!("could not start: {e}"),
            output: String::new(),
        })?;
    let started = Instant::now();
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut compiled = 0usize;
    let mut log = String::new();
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    ticks.tick().await;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                // `-v` names each package as it is compiled; anything else is a message.
                Ok(Some(line)) if line.contains(' ') || line.starts_with('#') => {
                    log.push_str(&line);
                    log.push('\n');
                }
                Ok(Some(_)) => compiled += 1,
                _ => break,
            },
            _ = ticks.tick() => {
                let done = if package.test { 0 } else { compiled };
                progress(&progress_line(name, done, total, started.elapsed()));
            }
        }
    }
    let status = child
        .wait()
        .await
        .io("waiting for go build of", package.path)?;
    if !status.success() {
        return Err(SandboxError::Command {
            command: format!(
                "go build {} (module {} in {})",
                package.path,
                module.version,
                work.display()
            ),
            status: status.to_string(),
            output: last_lines(&log, 20),
        });
    }
    Ok(())
}

/// `kubelet: 412 of 1630 packages after 3m10s, about 9m left`; with nothing counted (a
/// test binary), `e2e.test: still building after 3m10s`.
pub fn progress_line(name: &str, done: usize, total: Option<usize>, elapsed: Duration) -> String {
    if done == 0 {
        return format!("{name}: still building after {}", minutes(elapsed));
    }
    let mut s = format!("{name}: {done}");
    if let Some(total) = total {
        s.push_str(&format!(" of {total}"));
    }
    s.push_str(&format!(" packages compiled after {}", minutes(elapsed)));
    if let Some(total) = total
        && done > 0
        && done < total
    {
        let left = elapsed.mul_f64((total - done) as f64 / done as f64);
        s.push_str(&format!(", about {} left", minutes(left)));
    }
    s
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::modules::{MODULES, Program, only_version};

    #[test]
    fn go_versions_are_read() {
        assert_eq!(
            parse_go_version("go version go1.26.8 linux/amd64"),
            Some((1, 26))
        );
        assert_eq!(
            parse_go_version("go version go1.27rc1 linux/amd64"),
            Some((1, 27))
        );
        assert_eq!(parse_go_version("bash: go: not found"), None);
    }

    #[test]
    fn the_cache_folder_changes_with_the_module() {
        let cache = Path::new("/c");
        let a = build_dir(cache, &MODULES[0]);
        let b = build_dir(cache, &MODULES[1]);
        assert_ne!(a, b);
        assert!(
            a.display()
                .to_string()
                .starts_with("/c/upstream/kubernetes-v1.36.1-"),
            "{}",
            a.display()
        );
        let mut changed = *only_version(Program::Etcd);
        let before = build_hash(&changed);
        changed.go_sum = "different";
        assert_ne!(before, build_hash(&changed));
    }

    #[test]
    fn progress_lines_estimate_what_is_left() {
        let line = progress_line("kubelet", 100, Some(400), Duration::from_secs(60));
        assert_eq!(
            line,
            "kubelet: 100 of 400 packages compiled after 1m00s, about 3m00s left"
        );
        assert_eq!(
            progress_line("etcd", 5, None, Duration::from_secs(7)),
            "etcd: 5 packages compiled after 7s"
        );
    }
}
