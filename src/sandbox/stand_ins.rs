//! Test-only stand-in images for the Kubernetes components, made from the `k8s-standin`
//! binary (the `standin/` crate of this workspace): one image per Kubernetes image name the
//! sandbox config references. The real kube-apiserver, kube-controller-manager,
//! kube-scheduler, kubelet, kube-proxy and cri-dockerd cannot be obtained on the machines
//! the sandbox runs on (no registry); nothing outside the sandbox knows these images exist,
//! and only the config `sandbox up` writes points at them.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::closure::MinimalImage;
use super::error::{IoContext, SandboxError};
use super::{engine, labels, rootfs};

/// File name of the stand-in binary (`cargo build -p k8s-standin`).
pub const STANDIN_BINARY: &str = "k8s-standin";

/// Where the binary is in every stand-in image; the component names link to it.
const BIN_DIR: &str = "/usr/local/bin";

/// Every component the binary plays (chosen by argv[0]); each is a link in [`BIN_DIR`].
pub const STAND_IN_COMPONENTS: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "cri-dockerd",
];

/// The Kubernetes image names the sandbox config references (`<registry>/<name>:<version>`),
/// with the entrypoint each image gets. `hyperkube` is the kubelet image, which runs both
/// `kubelet` and `cri-dockerd`, so it has none: the container spec always names one.
pub const STAND_IN_IMAGE_NAMES: [(&str, Option<&str>); 5] = [
    ("kube-apiserver", Some("kube-apiserver")),
    ("kube-controller-manager", Some("kube-controller-manager")),
    ("kube-scheduler", Some("kube-scheduler")),
    ("kube-proxy", Some("kube-proxy")),
    ("hyperkube", None),
];

/// Bump when the way stand-in images are put together changes.
const FORMAT_VERSION: &str = "1";

/// The references of the stand-in images for `version` (`v1.36.1`) under `registry`.
pub fn stand_in_references(registry: &str, version: &str) -> Vec<String> {
    STAND_IN_IMAGE_NAMES
        .iter()
        .map(|(name, _)| format!("{registry}/{name}:{version}"))
        .collect()
}

/// `STANDIN_K8S_VERSION` for a Kubernetes version: its minor, `v1.36.1` → `1.36`.
pub fn standin_minor(version: &str) -> Result<String, SandboxError> {
    let bare = version.trim_start_matches('v');
    let mut parts = bare.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor))
            if !major.is_empty()
                && !minor.is_empty()
                && major.chars().all(|c| c.is_ascii_digit())
                && minor.chars().all(|c| c.is_ascii_digit()) =>
        {
            Ok(format!("{major}.{minor}"))
        }
        _ => Err(SandboxError::InvalidOptions(format!(
            "Kubernetes version {version:?} has no major.minor for the stand-ins"
        ))),
    }
}

/// Find the stand-in binary: `explicit` when given (it must exist), else `k8s-standin` next
/// to the running executable or one folder up (a test binary runs from `target/<profile>/deps`).
pub fn locate_standin(explicit: Option<&Path>) -> Result<PathBuf, SandboxError> {
    let exe = std::env::current_exe().ok();
    locate_standin_from(explicit, exe.as_deref())
}

fn locate_standin_from(
    explicit: Option<&Path>,
    exe: Option<&Path>,
) -> Result<PathBuf, SandboxError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(SandboxError::StandInMissing {
                looked: vec![path.to_path_buf()],
                fix: format!(
                    "{} is not a file: pass the path of a built `{STANDIN_BINARY}` \
                     (`cargo build -p k8s-standin` makes target/debug/{STANDIN_BINARY})",
                    path.display()
                ),
            })
        };
    }
    let mut looked = Vec::new();
    let exe_dir = exe.and_then(Path::parent);
    for dir in exe_dir.into_iter().chain(exe_dir.and_then(Path::parent)) {
        let candidate = dir.join(STANDIN_BINARY);
        if candidate.is_file() {
            return Ok(candidate);
        }
        looked.push(candidate);
    }
    let release = looked
        .iter()
        .any(|p| p.components().any(|c| c.as_os_str() == "release"));
    let build = if release {
        "cargo build --release -p k8s-standin"
    } else {
        "cargo build -p k8s-standin"
    };
    Err(SandboxError::StandInMissing {
        looked,
        fix: format!(
            "build it with `{build}` in the k8s-manage workspace (it lands next to \
             k8s-manage), or pass `--standin PATH`"
        ),
    })
}

/// SHA-256 of a file's content, hex.
pub fn file_sha256(path: &Path) -> Result<String, SandboxError> {
    let mut file = std::fs::File::open(path).io("opening", path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).io("reading", path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What [`build_stand_in_images`] made or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInImages {
    /// Image references, in the order of [`STAND_IN_IMAGE_NAMES`].
    pub references: Vec<String>,
    /// SHA-256 of the binary they hold (also the label `io.k8s-manage.stand-in-binary`).
    pub binary_sha256: String,
    /// Whether any image was (re)built, false when all were current.
    pub built: bool,
}

/// The labels a current stand-in image carries.
fn wanted_labels(reference: &str, binary_hash: &str, minor: &str) -> [(String, String); 3] {
    let mut h = Sha256::new();
    for part in [FORMAT_VERSION, reference, binary_hash, minor] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for c in STAND_IN_COMPONENTS {
        h.update(c.as_bytes());
        h.update([0]);
    }
    [
        (labels::STAND_IN.to_string(), "true".to_string()),
        (labels::STAND_IN_BINARY.to_string(), binary_hash.to_string()),
        (
            labels::IMAGE_RECIPE.to_string(),
            hex::encode(h.finalize())[..16].to_string(),
        ),
    ]
}

/// Make (or keep) the stand-in images `<registry>/<name>:<version>` for every name in
/// [`STAND_IN_IMAGE_NAMES`] from `binary`. Each holds the binary at
/// `/usr/local/bin/k8s-standin` (debug sections stripped when `strip` is there), a link
/// named after every component next to it, the libraries it loads, env
/// `STANDIN_K8S_VERSION=<minor>` and the label `io.k8s-manage.stand-in=true`. An image is
/// rebuilt only when the binary's content hash (label `io.k8s-manage.stand-in-binary`) or
/// the recipe changed.
pub async fn build_stand_in_images(
    binary: &Path,
    registry: &str,
    version: &str,
    progress: &dyn Fn(&str),
) -> Result<StandInImages, SandboxError> {
    let docker = engine::connect().await?;
    let minor = standin_minor(version)?;
    let binary = std::fs::canonicalize(binary).io("finding the stand-in binary", binary)?;
    let binary_hash = file_sha256(&binary)?;
    let references = stand_in_references(registry, version);

    let mut stale = Vec::new();
    for ((_, entrypoint), reference) in STAND_IN_IMAGE_NAMES.iter().zip(&references) {
        let wanted = wanted_labels(reference, &binary_hash, &minor);
        let current = engine::image_labels(&docker, reference).await?;
        let up_to_date = current
            .as_ref()
            .is_some_and(|have| wanted.iter().all(|(k, v)| have.get(k) == Some(v)));
        if !up_to_date {
            stale.push((reference.clone(), *entrypoint, wanted));
        }
    }
    if stale.is_empty() {
        return Ok(StandInImages {
            references,
            binary_sha256: binary_hash,
            built: false,
        });
    }

    let cache = rootfs::default_cache_dir();
    let _lock = rootfs::lock(&cache.join("stand-ins.lock")).await?;
    progress(&format!(
        "building {} stand-in images from {} (sha256 {})",
        stale.len(),
        binary.display(),
        &binary_hash[..12]
    ));
    let work = cache.join(format!("stand-in-{}", &binary_hash[..16]));
    std::fs::create_dir_all(&work).io("creating", &work)?;
    let packaged = strip_debug(&binary, &work.join(STANDIN_BINARY)).await;
    let layer = stand_in_layer(&packaged).await;
    let _ = std::fs::remove_dir_all(&work);
    let layer = layer?;

    for (reference, entrypoint, wanted) in stale {
        let mut changes = vec![
            format!(
                "ENV PATH={BIN_DIR}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin STANDIN_K8S_VERSION={minor}"
            ),
            "LABEL io.k8s-manage.stand-in-note=\"test-only stand-in for a Kubernetes component, made by k8s-manage sandbox up\"".to_string(),
        ];
        changes.extend(wanted.iter().map(|(k, v)| format!("LABEL {k}={v}")));
        if let Some(entrypoint) = entrypoint {
            changes.push(format!("ENTRYPOINT [\"{BIN_DIR}/{entrypoint}\"]"));
        }
        let body = futures_util::stream::once({
            let layer = layer.clone();
            async move { Ok(layer) }
        });
        rootfs::import_stream(&docker, body, &reference, &changes).await?;
        progress(&format!("built {reference}"));
    }
    Ok(StandInImages {
        references,
        binary_sha256: binary_hash,
        built: true,
    })
}

/// A copy of `binary` at `dest` without debug sections (a debug build shrinks from about
/// 100 MB to about 20 MB, which every node keeps in memory); the binary itself when `strip`
/// is missing or fails.
async fn strip_debug(binary: &Path, dest: &Path) -> PathBuf {
    let stripped = tokio::process::Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(dest)
        .arg(binary)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    match stripped {
        Ok(status) if status.success() && dest.is_file() => dest.to_path_buf(),
        _ => binary.to_path_buf(),
    }
}

/// The one file-system layer every stand-in image shares (identical bytes, so each node's
/// dockerd stores it once): base files, the binary, its libraries and the component links.
async fn stand_in_layer(binary: &Path) -> Result<bytes::Bytes, SandboxError> {
    let mut image = MinimalImage::new(Path::new("/"))?;
    image.base_files(&[])?;
    let dest = format!("{BIN_DIR}/{STANDIN_BINARY}");
    image.binary(&binary.display().to_string(), &dest).await?;
    for component in STAND_IN_COMPONENTS {
        image.symlink(&format!("{BIN_DIR}/{component}"), STANDIN_BINARY)?;
    }
    let bytes = image.finish().io("finishing the archive of", &dest)?;
    Ok(bytes::Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_the_registry_and_version() {
        let refs = stand_in_references("k8s-manage-sandbox", "v1.36.1");
        assert_eq!(
            refs,
            [
                "k8s-manage-sandbox/kube-apiserver:v1.36.1",
                "k8s-manage-sandbox/kube-controller-manager:v1.36.1",
                "k8s-manage-sandbox/kube-scheduler:v1.36.1",
                "k8s-manage-sandbox/kube-proxy:v1.36.1",
                "k8s-manage-sandbox/hyperkube:v1.36.1",
            ]
        );
        assert_eq!(standin_minor("v1.36.1").unwrap(), "1.36");
        assert_eq!(standin_minor("1.31").unwrap(), "1.31");
        assert!(standin_minor("latest").is_err());
    }

    #[test]
    fn the_binary_is_found_given_next_to_the_executable_or_one_folder_up() {
        let dir = tempfile::tempdir().unwrap();
        let debug = dir.path().join("target/debug");
        std::fs::create_dir_all(debug.join("deps")).unwrap();
        let exe = debug.join("deps/sandbox_e2e-0123");

        let err = locate_standin_from(None, Some(&exe)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cargo build -p k8s-standin"), "{text}");
        assert!(text.contains("--standin"), "{text}");
        assert!(
            text.contains(&debug.join("k8s-standin").display().to_string()),
            "{text}"
        );

        std::fs::write(debug.join("k8s-standin"), b"x").unwrap();
        assert_eq!(
            locate_standin_from(None, Some(&exe)).unwrap(),
            debug.join("k8s-standin")
        );
        assert_eq!(
            locate_standin_from(None, Some(&debug.join("k8s-manage"))).unwrap(),
            debug.join("k8s-standin")
        );

        let given = dir.path().join("elsewhere");
        let err = locate_standin_from(Some(&given), Some(&exe)).unwrap_err();
        assert!(err.to_string().contains("is not a file"), "{err}");
        std::fs::write(&given, b"x").unwrap();
        assert_eq!(
            locate_standin_from(Some(&given), Some(&exe)).unwrap(),
            given
        );

        let release = dir.path().join("target/release/k8s-manage");
        let err = locate_standin_from(None, Some(&release)).unwrap_err();
        assert!(
            err.to_string()
                .contains("cargo build --release -p k8s-standin"),
            "{err}"
        );
    }

    #[test]
    fn the_labels_change_with_the_binary_and_the_version() {
        let a = wanted_labels("r/kube-proxy:v1.36.1", "aaaa", "1.36");
        let b = wanted_labels("r/kube-proxy:v1.36.1", "bbbb", "1.36");
        let c = wanted_labels("r/kube-proxy:v1.35.0", "aaaa", "1.35");
        assert_eq!(a[0], (labels::STAND_IN.to_string(), "true".to_string()));
        assert_eq!(a[1].1, "aaaa");
        assert_ne!(a[2], b[2]);
        assert_ne!(a[2], c[2]);
    }
}
