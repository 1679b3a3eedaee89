//! Debian root file systems made with debootstrap (cached, locked against concurrent
//! builders) and their import into the Docker engine as images (`docker import`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptions;
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::error::{IoContext, SandboxError, last_lines};

/// The Debian release every sandbox image is made from.
pub const SUITE: &str = "bookworm";

/// Bump when the way images are put together changes, so cached images are rebuilt.
const FORMAT_VERSION: &str = "1";

/// How to make one root file system.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Short name, used in directory names and messages.
    pub name: &'static str,
    /// Packages passed to `debootstrap --include`.
    pub include: &'static [&'static str],
    /// Shell run inside the new root (`chroot DIR sh -ec ...`) after debootstrap.
    pub post_install: &'static str,
}

impl Recipe {
    /// A short content hash of everything that decides what the root file system holds.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            FORMAT_VERSION,
            SUITE,
            "minbase",
            self.name,
            self.post_install,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for pkg in self.include {
            h.update(pkg.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())[..16].to_string()
    }
}

/// Where root file systems, build logs and lock files live: `K8S_MANAGE_SANDBOX_CACHE`,
/// else `/var/cache/k8s-manage/sandbox`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("K8S_MANAGE_SANDBOX_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/k8s-manage/sandbox"))
}

/// Fail with a clear message unless this process runs as root.
pub fn require_root(what: &str) -> Result<(), SandboxError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        Err(SandboxError::NotRoot {
            what: what.to_string(),
        })
    }
}

/// An exclusive lock on `path`, held until the returned file is dropped. Concurrent
/// builders of the same image wait here instead of building it twice.
pub async fn lock(path: &Path) -> Result<std::fs::File, SandboxError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).io("creating", parent)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .io("opening lock file", path)?;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || file.lock().map(|_| file))
        .await
        .expect("lock task does not panic")
        .io("locking", path)
}

/// Run a command to completion; its combined output when it succeeds.
pub async fn run(command: &mut Command) -> Result<String, SandboxError> {
    let shown = format!("{:?}", command.as_std());
    let out = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| SandboxError::Command {
            command: shown.clone(),
            status: format!("could not start: {e}"),
            output: String::new(),
        })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(SandboxError::Command {
            command: shown,
            status: out.status.to_string(),
            output: last_lines(&text, 20),
        })
    }
}

/// Make the root file system of `recipe` at `dest` (debootstrap, then its post-install
/// script). Builds into `dest.partial` and renames, so `dest` is either complete or absent.
/// The debootstrap log is kept next to it as `dest.log`.
pub async fn debootstrap(
    recipe: &Recipe,
    dest: &Path,
    progress: &dyn Fn(&str),
) -> Result<(), SandboxError> {
    require_root(&format!("building the {} root file system", recipe.name))?;
    let partial = dest.with_extension("partial");
    let log = dest.with_extension("log");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).io("removing the unfinished", &partial)?;
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).io("creating", parent)?;
    }
    progress(&format!(
        "debootstrap {SUITE} for the {} image (about a minute; log: {})",
        recipe.name,
        log.display()
    ));
    let mut cmd = Command::new("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", recipe.include.join(",")))
        .arg(SUITE)
        .arg(&partial);
    if let Ok(mirror) = std::env::var("K8S_MANAGE_DEBIAN_MIRROR") {
        cmd.arg(mirror);
    }
    let result = run(&mut cmd).await;
    let text = match &result {
        Ok(text) => text.clone(),
        Err(SandboxError::Command { output, .. }) => output.clone(),
        Err(_) => String::new(),
    };
    std::fs::write(&log, &text).io("writing", &log)?;
    if let Err(SandboxError::Command { status, .. }) = &result
        && status.starts_with("could not start")
    {
        return Err(SandboxError::Command {
            command: "debootstrap".into(),
            status: status.clone(),
            output: "install it with `apt-get install -y debootstrap`".into(),
        });
    }
    result?;
    run(Command::new("chroot")
        .arg(&partial)
        .args(["/bin/sh", "-ec", recipe.post_install]))
    .await?;
    std::fs::rename(&partial, dest).io("renaming the finished root file system to", dest)?;
    Ok(())
}

/// `docker import`: stream `tar -C dir -c .` into the engine as image `reference`
/// (`repo:tag`), with Dockerfile-style `changes` (CMD, ENV, LABEL, ...). Returns the image id.
pub async fn import_dir(
    docker: &Docker,
    dir: &Path,
    reference: &str,
    changes: &[String],
) -> Result<String, SandboxError> {
    let mut child = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--numeric-owner", "-cf", "-", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SandboxError::Command {
            command: format!("tar -C {} -c .", dir.display()),
            status: format!("could not start: {e}"),
            output: String::new(),
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let body = futures_util::stream::unfold(stdout, |mut out| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), out))
            }
            Err(e) => Some((Err(e), out)),
        }
    });
    let id = import_stream(docker, body, reference, changes).await;
    let out = child
        .wait_with_output()
        .await
        .io("waiting for tar of", dir)?;
    if !out.status.success() {
        return Err(SandboxError::Command {
            command: format!("tar -C {} -c .", dir.display()),
            status: out.status.to_string(),
            output: last_lines(&String::from_utf8_lossy(&out.stderr), 20),
        });
    }
    id
}

/// `docker import` of a tar stream holding a root file system.
pub async fn import_stream(
    docker: &Docker,
    body: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    reference: &str,
    changes: &[String],
) -> Result<String, SandboxError> {
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        changes: changes.to_vec(),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    let mut last_status = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|source| SandboxError::Docker {
            action: format!("importing image {reference}"),
            source,
        })?;
        if let Some(status) = info.status {
            last_status = status;
        }
    }
    Ok(last_status.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_changes_with_the_recipe() {
        let a = Recipe {
            name: "x",
            include: &["a", "b"],
            post_install: "true",
        };
        let b = Recipe {
            include: &["a", "c"],
            ..a.clone()
        };
        let c = Recipe {
            post_install: "false",
            ..a.clone()
        };
        assert_eq!(a.hash(), a.clone().hash());
        assert_eq!(a.hash().len(), 16);
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
    }
}
