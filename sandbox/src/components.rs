//! Real component images for a sandbox that reaches no registry, made from Debian
//! packages: etcd, haproxy and a registry (`k8s-manage-sandbox/<name>:<version>`).

use std::path::Path;

use bollard::Docker;
use sha2::{Digest, Sha256};

use super::closure::MinimalImage;
use super::error::SandboxError;
use super::{engine, labels, rootfs};

/// One Debian root file system holds every package the component images are cut from.
pub const COMPONENTS_RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "components",
    include: &[
        "etcd-server",
        "etcd-client",
        "haproxy",
        "docker-registry",
        "ca-certificates",
    ],
    post_install: "apt-get clean\nrm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

pub const ETCD_IMAGE: &str = "k8s-manage-sandbox/etcd:3.4.23";
pub const HAPROXY_IMAGE: &str = "k8s-manage-sandbox/haproxy:2.6";
pub const REGISTRY_IMAGE: &str = "k8s-manage-sandbox/registry:2.8";

/// The registry's configuration: filesystem storage in /var/lib/registry, port 5000.
const REGISTRY_CONFIG: &str = "version: 0.1\n\
log:\n  fields:\n    service: registry\n\
storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /var/lib/registry\n\
http:\n  addr: :5000\n  headers:\n    X-Content-Type-Options: [nosniff]\n";

/// How one component image is cut from the components root file system.
struct ComponentSpec {
    reference: &'static str,
    /// Debian package whose version must start with the tag.
    package: &'static str,
    /// (path in the rootfs, path in the image)
    binaries: &'static [(&'static str, &'static str)],
    users: &'static [(&'static str, u32)],
    dirs: &'static [&'static str],
    files: &'static [(&'static str, &'static str)],
    changes: &'static [&'static str],
}

const SPECS: [ComponentSpec; 3] = [
    ComponentSpec {
        reference: ETCD_IMAGE,
        package: "etcd-server",
        binaries: &[
            ("/usr/bin/etcd", "/usr/local/bin/etcd"),
            ("/usr/bin/etcdctl", "/usr/local/bin/etcdctl"),
        ],
        users: &[],
        dirs: &["/var/lib/etcd"],
        files: &[],
        changes: &["CMD [\"/usr/local/bin/etcd\"]", "EXPOSE 2379 2380"],
    },
    ComponentSpec {
        reference: HAPROXY_IMAGE,
        package: "haproxy",
        binaries: &[("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")],
        users: &[("haproxy", 99)],
        dirs: &["/usr/local/etc/haproxy", "/run/haproxy", "/var/lib/haproxy"],
        files: &[],
        // Like the upstream image's command; it runs as root so that 0600 PEM files work.
        // (`docker import` takes no STOPSIGNAL: set SIGUSR1 on the container for a soft stop.)
        changes: &["CMD [\"haproxy\", \"-f\", \"/usr/local/etc/haproxy/haproxy.cfg\"]"],
    },
    ComponentSpec {
        reference: REGISTRY_IMAGE,
        package: "docker-registry",
        binaries: &[("/usr/bin/docker-registry", "/bin/registry")],
        users: &[],
        dirs: &["/var/lib/registry"],
        files: &[("/etc/docker/registry/config.yml", REGISTRY_CONFIG)],
        changes: &[
            "ENTRYPOINT [\"/bin/registry\"]",
            "CMD [\"serve\", \"/etc/docker/registry/config.yml\"]",
            "EXPOSE 5000",
        ],
    },
];

const PATH_ENV: &str = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ComponentSpec {
    /// Content hash of the rootfs recipe and of how this image is cut from it.
    fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(COMPONENTS_RECIPE.hash().as_bytes());
        for part in [self.reference, self.package, REGISTRY_CONFIG, PATH_ENV] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for (a, b) in self.binaries.iter().chain(self.files.iter()) {
            h.update(a.as_bytes());
            h.update(b.as_bytes());
        }
        for part in self.dirs.iter().chain(self.changes.iter()) {
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())[..16].to_string()
    }

    fn tag(&self) -> &'static str {
        self.reference
            .rsplit_once(':')
            .map(|(_, t)| t)
            .unwrap_or("")
    }
}

/// The references of the images `build_component_images` made or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentImages {
    pub etcd: String,
    pub haproxy: String,
    pub registry: String,
}

/// Make `k8s-manage-sandbox/etcd:3.4.23`, `.../haproxy:2.6` and `.../registry:2.8` from
/// Debian packages, each holding only its binaries and the libraries they load. Images
/// that exist and were cut by the current recipe are kept. The Debian root file system
/// they come from is cached in the sandbox cache directory (building it needs root).
pub async fn build_component_images(
    progress: &dyn Fn(&str),
) -> Result<ComponentImages, SandboxError> {
    let docker = engine::connect().await?;
    let cache = rootfs::default_cache_dir();
    let root_hash = COMPONENTS_RECIPE.hash();
    let root = cache.join(format!("rootfs-components-{root_hash}"));
    let _lock = rootfs::lock(&cache.join(format!("components-{root_hash}.lock"))).await?;
    for spec in &SPECS {
        let hash = spec.hash();
        let current = engine::image_labels(&docker, spec.reference)
            .await?
            .and_then(|l| l.get(labels::IMAGE_RECIPE).cloned());
        if current.as_deref() == Some(hash.as_str()) {
            continue;
        }
        if !root.exists() {
            rootfs::debootstrap(&COMPONENTS_RECIPE, &root, progress).await?;
        }
        progress(&format!("building {}", spec.reference));
        build_one(&docker, &root, spec, &hash).await?;
    }
    Ok(ComponentImages {
        etcd: ETCD_IMAGE.into(),
        haproxy: HAPROXY_IMAGE.into(),
        registry: REGISTRY_IMAGE.into(),
    })
}

async fn build_one(
    docker: &Docker,
    root: &Path,
    spec: &ComponentSpec,
    hash: &str,
) -> Result<(), SandboxError> {
    let version = rootfs::run(tokio::process::Command::new("chroot").arg(root).args([
        "dpkg-query",
        "-W",
        "-f=${Version}",
        spec.package,
    ]))
    .await?;
    if !version.starts_with(spec.tag()) {
        return Err(SandboxError::Image {
            image: spec.reference.into(),
            reason: format!(
                "Debian's {} is version {version}, which the tag {} does not describe",
                spec.package,
                spec.tag()
            ),
        });
    }
    let mut image = MinimalImage::new(root)?;
    image.base_files(spec.users)?;
    for dir in spec.dirs {
        image.dir(dir, 0o755)?;
    }
    for (path, content) in spec.files {
        image.file(path, 0o644, content.as_bytes())?;
    }
    for (source, dest) in spec.binaries {
        image.binary(source, dest).await?;
    }
    let mut changes = vec![
        PATH_ENV.to_string(),
        format!("LABEL {}={hash}", labels::IMAGE_RECIPE),
        format!("LABEL io.k8s-manage.sandbox-debian-version={version}"),
    ];
    changes.extend(spec.changes.iter().map(|c| c.to_string()));
    image.import(docker, spec.reference, &changes).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_has_a_distinct_hash_and_a_versioned_tag() {
        let hashes: std::collections::BTreeSet<String> = SPECS.iter().map(|s| s.hash()).collect();
        assert_eq!(hashes.len(), SPECS.len());
        let tags: Vec<&str> = SPECS.iter().map(|s| s.tag()).collect();
        assert_eq!(tags, ["3.4.23", "2.6", "2.8"]);
    }
}
