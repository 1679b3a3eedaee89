//! A plain Debian image made here (debootstrap minbase, imported into the local engine),
//! for builds that need a Debian base where no registry answers: the tests of
//! `image node-agent` build on it instead of `docker.io/library/debian:bookworm-slim`.
//! Its apt sources name the Debian mirror debootstrap used.

use super::error::SandboxError;
use super::{engine, labels, rootfs};

/// The image's name.
pub const DEBIAN_BASE_IMAGE: &str = "k8s-manage-sandbox/debian:bookworm";

const RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "debian-base",
    include: &["ca-certificates"],
    post_install: "apt-get clean\nrm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

/// Make [`DEBIAN_BASE_IMAGE`] unless the engine has it from the current recipe; its
/// reference. Needs root and a Debian mirror the first time.
pub async fn debian_base_image(progress: &dyn Fn(&str)) -> Result<String, SandboxError> {
    let docker = engine::connect().await?;
    let hash = RECIPE.hash();
    let current = engine::image_labels(&docker, DEBIAN_BASE_IMAGE)
        .await?
        .and_then(|l| l.get(labels::IMAGE_RECIPE).cloned());
    if current.as_deref() == Some(hash.as_str()) {
        return Ok(DEBIAN_BASE_IMAGE.to_string());
    }
    let cache = rootfs::default_cache_dir();
    let root = cache.join(format!("rootfs-debian-base-{hash}"));
    let _lock = rootfs::lock(&cache.join(format!("debian-base-{hash}.lock"))).await?;
    if !root.exists() {
        rootfs::debootstrap(&RECIPE, &root, progress).await?;
    }
    progress(&format!("importing {DEBIAN_BASE_IMAGE}"));
    rootfs::import_dir(
        &docker,
        &root,
        DEBIAN_BASE_IMAGE,
        &[
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            format!("LABEL {}={hash}", labels::IMAGE_RECIPE),
            "CMD [\"bash\"]".to_string(),
        ],
    )
    .await?;
    Ok(DEBIAN_BASE_IMAGE.to_string())
}
