//! busybox 1.37.0 built from its release source, for the conformance suite's busybox image.
//!
//! The suite's image is the official busybox image, which is built with busybox's own
//! `defconfig`. Debian's busybox packages (1.35 in Debian 12, 1.37 in Debian 13) are
//! configured differently: their `sh` does not pass on environment variables whose names
//! are not shell identifiers (`data-1`), and three ConfigMap and Secret specs run
//! `sh -c env` to see exactly those. So the sandbox builds busybox itself: the release
//! tarball as Debian's archive serves it (`busybox_1.37.0.orig.tar.bz2`, busybox.net's
//! `busybox-1.37.0.tar.bz2`; its SHA-256 is pinned here and checked), `make defconfig`,
//! static, without `tc` (it does not build against Debian 12's kernel headers). The build
//! runs in a Debian 12 root with build-essential (cached like the other roots), and the
//! binary is cached per version and recipe in the sandbox cache.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::{IoContext, SandboxError};
use crate::rootfs;

/// The busybox release built.
pub const VERSION: &str = "1.37.0";

/// The release tarball's path in a Debian archive.
const TARBALL: &str = "pool/main/b/busybox/busybox_1.37.0.orig.tar.bz2";

/// SHA-256 of the release tarball (the same file as busybox.net's `busybox-1.37.0.tar.bz2`).
const TARBALL_SHA256: &str = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4";

/// The Debian archive the tarball comes from (`K8S_MANAGE_DEBIAN_MIRROR`, as for
/// debootstrap, else deb.debian.org).
fn archive() -> String {
    std::env::var("K8S_MANAGE_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into())
        .trim_end_matches('/')
        .to_string()
}

/// The build root: a compiler, make, bzip2 and curl.
pub const BUILD_RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "busybox-build",
    include: &["build-essential", "bzip2", "curl", "ca-certificates"],
    post_install: "apt-get clean\nrm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

/// Run in the build root: `$1` the tarball's URL, `$2` its SHA-256, `$3` parallel jobs.
/// Leaves the binary at /tmp/busybox-build/busybox-<version>/busybox.
const BUILD_SCRIPT: &str = r#"rm -rf /tmp/busybox-build
mkdir -p /tmp/busybox-build
cd /tmp/busybox-build
curl -fsSL --retry 3 -o busybox.tar.bz2 "$1"
echo "$2  busybox.tar.bz2" | sha256sum -c - >/dev/null || { echo "busybox.tar.bz2 from $1 does not have the pinned SHA-256 $2" >&2; exit 1; }
tar xjf busybox.tar.bz2
cd busybox-*/
make defconfig >/dev/null
sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config
grep -qx 'CONFIG_STATIC=y' .config
make -j"$3" busybox >build.log 2>&1 || { tail -n 30 build.log >&2; exit 1; }
"#;

/// The cache key: version, tarball, script and build root.
pub(super) fn build_hash() -> String {
    let mut h = Sha256::new();
    for part in [VERSION, TARBALL_SHA256, BUILD_SCRIPT, &BUILD_RECIPE.hash()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Build busybox (or find it built) and return the static binary's path.
pub async fn ensure_busybox(progress: &dyn Fn(&str)) -> Result<PathBuf, SandboxError> {
    let cache = rootfs::default_cache_dir();
    let dir = cache.join(format!("busybox-{VERSION}-{}", build_hash()));
    let bin = dir.join("busybox");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).io("creating", &dir)?;
    let _lock = rootfs::lock(&dir.with_extension("lock")).await?;
    if bin.is_file() {
        return Ok(bin);
    }
    let root = super::images::recipe_root(&BUILD_RECIPE, progress).await?;
    progress(&format!(
        "building busybox {VERSION} from its release source (about a minute)"
    ));
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    rootfs::run(
        tokio::process::Command::new("chroot")
            .arg(&root)
            .args(["/bin/sh", "-ec", BUILD_SCRIPT, "busybox-build"])
            .arg(format!("{}/{TARBALL}", archive()))
            .arg(TARBALL_SHA256)
            .arg(jobs.to_string()),
    )
    .await?;
    let built = root.join(format!("tmp/busybox-build/busybox-{VERSION}/busybox"));
    let partial = dir.join("busybox.partial");
    std::fs::copy(&built, &partial).io("copying", &built)?;
    std::fs::rename(&partial, &bin).io("moving into place", &bin)?;
    let scratch = root.join("tmp/busybox-build");
    std::fs::remove_dir_all(&scratch).io("removing", &scratch)?;
    Ok(bin)
}

/// The applets a `busybox --list` command prints (the static build runs here as it is;
/// Debian's runs in its root with `chroot`).
pub async fn applets(list: &mut tokio::process::Command) -> Result<Vec<String>, SandboxError> {
    let out = rootfs::run(list).await?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_tarball_is_the_release_of_the_version() {
        assert!(TARBALL.contains(&format!("busybox_{VERSION}.orig")));
        assert_eq!(TARBALL_SHA256.len(), 64);
        assert!(TARBALL_SHA256.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_build_is_static_and_checks_the_tarball() {
        assert!(BUILD_SCRIPT.contains("CONFIG_STATIC=y"));
        assert!(BUILD_SCRIPT.contains("sha256sum -c"));
        assert!(BUILD_SCRIPT.contains("make defconfig"));
    }
}
