//! Where each release file of the node-agent image comes from: its official URL, or the
//! same path under `release-mirror` (`<mirror>/<host>/<path>`, the layout `wget -x` makes),
//! and the checksum file published beside it (the kubelet's `kubelet.sha256`; cri-dockerd
//! publishes none).

use crate::model::node_agent::ReleaseMirror;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A release file of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Artifact {
    /// The kubelet binary of `https://dl.k8s.io`.
    Kubelet,
    /// The cri-dockerd release archive of `https://github.com/Mirantis/cri-dockerd`.
    CriDockerd,
}

impl Artifact {
    pub fn name(self) -> &'static str {
        match self {
            Artifact::Kubelet => "kubelet",
            Artifact::CriDockerd => "cri-dockerd",
        }
    }

    /// The official URL of the file for `version` (`v1.36.1`, `0.4.3`) and `arch`.
    pub fn official_url(self, version: &str, arch: &str) -> String {
        match self {
            Artifact::Kubelet => {
                format!("https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubelet")
            }
            Artifact::CriDockerd => format!(
                "https://github.com/Mirantis/cri-dockerd/releases/download/v{version}/{}",
                self.file_name(version, arch)
            ),
        }
    }

    /// The file's name (also its name in the build context).
    pub fn file_name(self, version: &str, arch: &str) -> String {
        match self {
            Artifact::Kubelet => "kubelet".into(),
            Artifact::CriDockerd => format!("cri-dockerd-{version}.{arch}.tgz"),
        }
    }

    /// The name of the checksum file published beside it, if any.
    pub fn checksum_file(self) -> Option<&'static str> {
        match self {
            Artifact::Kubelet => Some("kubelet.sha256"),
            Artifact::CriDockerd => None,
        }
    }
}

/// Where one file is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Location {
    Url(String),
    File(PathBuf),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Url(u) => write!(f, "{u}"),
            Location::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Location {
    /// The location of a file next to this one.
    pub fn sibling(&self, name: &str) -> Location {
        match self {
            Location::Url(u) => Location::Url(match u.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/{name}"),
                None => name.to_string(),
            }),
            Location::File(p) => Location::File(p.with_file_name(name)),
        }
    }
}

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub artifact: Artifact,
    pub version: String,
    pub arch: String,
    pub location: Location,
    /// The checksum file published beside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_file: Option<Location>,
}

/// Where `artifact` comes from: its official URL, or the same host and path under the
/// mirror. A relative mirror folder is taken from `config_dir`.
pub fn source(
    artifact: Artifact,
    version: &str,
    arch: &str,
    mirror: Option<&ReleaseMirror>,
    config_dir: &Path,
) -> Source {
    let official = artifact.official_url(version, arch);
    let host_and_path = official
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(&official);
    let location = match mirror {
        None => Location::Url(official.clone()),
        Some(ReleaseMirror::Url(base)) => Location::Url(format!("{base}/{host_and_path}")),
        Some(ReleaseMirror::Dir(dir)) => {
            let dir = if dir.is_absolute() {
                dir.clone()
            } else {
                config_dir.join(dir)
            };
            Location::File(dir.join(host_and_path))
        }
    };
    let checksum_file = artifact.checksum_file().map(|n| location.sibling(n));
    Source {
        artifact,
        version: version.to_string(),
        arch: arch.to_string(),
        location,
        checksum_file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_locations_are_the_release_sites() {
        let s = source(Artifact::Kubelet, "v1.36.1", "amd64", None, Path::new("/c"));
        assert_eq!(
            s.location,
            Location::Url("https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubelet".into())
        );
        assert_eq!(
            s.checksum_file,
            Some(Location::Url(
                "https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubelet.sha256".into()
            ))
        );
        let s = source(
            Artifact::CriDockerd,
            "0.4.3",
            "arm64",
            None,
            Path::new("/c"),
        );
        assert_eq!(
            s.location,
            Location::Url(
                "https://github.com/Mirantis/cri-dockerd/releases/download/v0.4.3/cri-dockerd-0.4.3.arm64.tgz"
                    .into()
            )
        );
        assert_eq!(s.checksum_file, None);
    }

    #[test]
    fn a_mirror_keeps_host_and_path() {
        let m = ReleaseMirror::Url("http://10.0.0.5:8080/rel".into());
        let s = source(
            Artifact::Kubelet,
            "v1.36.1",
            "amd64",
            Some(&m),
            Path::new("/c"),
        );
        assert_eq!(
            s.location,
            Location::Url(
                "http://10.0.0.5:8080/rel/dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubelet".into()
            )
        );
        let m = ReleaseMirror::Dir("mirror".into());
        let s = source(
            Artifact::CriDockerd,
            "0.4.3",
            "amd64",
            Some(&m),
            Path::new("/c"),
        );
        assert_eq!(
            s.location,
            Location::File(
                "/c/mirror/github.com/Mirantis/cri-dockerd/releases/download/v0.4.3/cri-dockerd-0.4.3.amd64.tgz"
                    .into()
            )
        );
        let m = ReleaseMirror::Dir("/srv/m".into());
        let s = source(
            Artifact::Kubelet,
            "v1.36.1",
            "arm64",
            Some(&m),
            Path::new("/c"),
        );
        assert_eq!(
            s.checksum_file,
            Some(Location::File(
                "/srv/m/dl.k8s.io/release/v1.36.1/bin/linux/arm64/kubelet.sha256".into()
            ))
        );
    }
}
