//! The node-agent image (kubelet + cri-dockerd, one image, every node): the official
//! kubelet of the config's `kubernetes-version` and the cri-dockerd release archive,
//! fetched from their release sites or `release-mirror`, each checked against the
//! expected SHA-256 (a pin of the config, else the built-in table) and the checksum file
//! published beside it, then built on a Debian base through the Docker API and tagged as
//! the config's kubelet image. Nothing is built unless both files check out.

pub mod checksums;
pub mod fetch;
pub mod recipe;
pub mod sources;

use crate::model::Cluster;
use crate::model::node_agent::ReleaseMirror;
use checksums::{Expected, Vouch};
use serde::Serialize;
use sources::{Artifact, Location, Source};
use std::collections::HashMap;
use std::path::Path;

/// Why no image was made, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub fix: String,
    /// The input (config, table) is what is wrong, not the network or the engine.
    pub invalid_input: bool,
}

impl Failure {
    fn new(message: impl Into<String>, fix: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            fix: fix.into(),
            invalid_input: false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n  fix: {}", self.message, self.fix)
    }
}

/// The architecture of this machine, as release files name it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// One file to fetch, with the checksum it must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub source: Source,
    pub expected: Expected,
}

/// What the image is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The config's kubelet image.
    pub reference: String,
    pub arch: String,
    pub base: String,
    pub kubelet: Planned,
    pub cri_dockerd: Planned,
}

/// The plan for `cluster` and `arch`, or why there is none. Reads nothing from the
/// network: a file whose checksum nobody vouches for is refused here.
pub fn plan(cluster: &Cluster, arch: &str) -> Result<Plan, Failure> {
    let k = &cluster.kubernetes;
    let na = &k.node_agent;
    let kubelet_version = k.version.to_string();
    let mirror = na.release_mirror.as_ref();
    let planned = |artifact: Artifact, version: &str| -> Result<Planned, Failure> {
        let source = sources::source(artifact, version, arch, mirror, &cluster.config_dir);
        match checksums::expected(artifact, version, arch, &na.checksum_pins) {
            Some(expected) => Ok(Planned { source, expected }),
            None => Err(no_checksum(artifact, version, arch, &source)),
        }
    };
    let kubelet = planned(Artifact::Kubelet, &kubelet_version);
    let cri_dockerd = planned(Artifact::CriDockerd, &na.cri_dockerd_version);
    let (kubelet, cri_dockerd) = match (kubelet, cri_dockerd) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) => {
            return Err(Failure {
                message: format!("{}\nand {}", a.message, b.message),
                fix: format!("{}\nand {}", a.fix, b.fix),
                invalid_input: true,
            });
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    Ok(Plan {
        reference: k.images["kubelet"].clone(),
        arch: arch.to_string(),
        base: na.base_image.clone(),
        kubelet,
        cri_dockerd,
    })
}

fn no_checksum(artifact: Artifact, version: &str, arch: &str, source: &Source) -> Failure {
    let name = artifact.name();
    let file = artifact.file_name(version, arch);
    let known = checksums::versions(artifact, arch);
    let range = match (known.first(), known.last()) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "none".into(),
    };
    let choose = match artifact {
        Artifact::Kubelet => format!(
            "or set `kubernetes-version:` to a release the table has (kubelet {arch}: {range})"
        ),
        Artifact::CriDockerd => format!(
            "or set `cri-dockerd-version:` to a release the table has (cri-dockerd {arch}: {range})"
        ),
    };
    let how = match artifact.checksum_file() {
        Some(c) => format!(
            "compare it with {} and a second source you trust",
            source.location.sibling(c)
        ),
        None => format!(
            "cri-dockerd publishes no checksum file: compute it with `sha256sum {file}` on a copy you trust"
        ),
    };
    Failure {
        message: format!(
            "no SHA-256 is known for {name} {version} ({arch}): the built-in table ({}) has no row for it and kubernetes-configuration.yaml pins none",
            checksums::TABLE_PATH
        ),
        fix: format!(
            "pin the file's checksum under `kubernetes:` in kubernetes-configuration.yaml ({how}):\n    node-agent-checksums:\n      {name}:\n        {version}:\n          {arch}: <sha256 of {file}>\n  {choose}; README.md \"The node-agent image\" tells how to add a row to the table"
        ),
        invalid_input: true,
    }
}

/// A file that was fetched and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub artifact: Artifact,
    pub version: String,
    pub from: Location,
    pub sha256: String,
    pub bytes: u64,
    /// Who vouched for the checksum.
    pub vouch: Vouch,
    /// The published checksum file that agreed, if the file has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Location>,
    /// The official release's checksum when the pin differs from it (a site's own build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official_differs: Option<String>,
}

fn mirror_fix(plan_mirror: Option<&ReleaseMirror>, mirror_at: Option<String>) -> String {
    match (plan_mirror, mirror_at) {
        (Some(ReleaseMirror::Url(_)), Some(at)) => format!(
            "check that the mirror answers and holds the file at that path (`release-mirror` at {at}; layout: README.md \"The node-agent image\")"
        ),
        (Some(ReleaseMirror::Dir(_)), Some(at)) => format!(
            "copy the file there, keeping the official host and path (`release-mirror` at {at}; layout: README.md \"The node-agent image\")"
        ),
        _ => "check this machine's connection to the release site (HTTPS_PROXY is honoured), or set `release-mirror:` to a mirror of it".into(),
    }
}

/// Fetch one file into `dir` and check it: the expected checksum, and the published
/// checksum file (which must exist where the release site publishes one).
pub async fn fetch_verified(
    fetcher: &fetch::Fetcher,
    planned: &Planned,
    dir: &Path,
    cluster: &Cluster,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Verified, std::path::PathBuf), Failure> {
    let na = &cluster.kubernetes.node_agent;
    let fix = || {
        mirror_fix(
            na.release_mirror.as_ref(),
            na.release_mirror_at.as_ref().map(|a| a.to_string()),
        )
    };
    let s = &planned.source;
    let file = s.artifact.file_name(&s.version, &s.arch);
    let dest = dir.join(&file);
    progress(&format!(
        "fetching {} {} from {}",
        s.artifact.name(),
        s.version,
        s.location
    ));
    let got = fetcher
        .to_file(&s.location, &dest, fetch::MAX_FILE_BYTES)
        .await
        .map_err(|e| Failure::new(e.to_string(), fix()))?;
    let published = match &s.checksum_file {
        None => None,
        Some(loc) => {
            let text = fetcher
                .text(loc, fetch::MAX_CHECKSUM_FILE_BYTES)
                .await
                .map_err(|e| {
                    let why = if e.is_missing() {
                        format!("{e} (the release site publishes it beside {file}; a mirror must carry it too)")
                    } else {
                        e.to_string()
                    };
                    Failure::new(why, fix())
                })?;
            let Some(digest) = fetch::parse_checksum_file(&text) else {
                return Err(Failure::new(
                    format!(
                        "{loc} holds no SHA-256 (it starts {:?})",
                        text.chars().take(40).collect::<String>()
                    ),
                    fix(),
                ));
            };
            if digest != got.sha256 {
                return Err(Failure::new(
                    format!(
                        "checksum mismatch: {} has SHA-256 {}, but {loc} says {digest}",
                        s.location, got.sha256
                    ),
                    "the file or its checksum file is damaged or was replaced: fetch both again from the release site, and never build from a file that does not match",
                ));
            }
            Some(loc.clone())
        }
    };
    let e = &planned.expected;
    if got.sha256 != e.sha256 {
        let fix = match &e.vouch {
            Vouch::Table => "the file is not the official release: replace it with the official one (a mirror must hold it unchanged); a site's own build is pinned with `node-agent-checksums` in kubernetes-configuration.yaml".to_string(),
            Vouch::Pin { at } => format!(
                "the file is not the one pinned at {at}: replace it with the pinned build, or pin this one after checking where it came from"
            ),
        };
        return Err(Failure::new(
            format!(
                "checksum mismatch for {} ({}): expected SHA-256 {} (from {}), got {}",
                s.location, file, e.sha256, e.vouch, got.sha256
            ),
            fix,
        ));
    }
    Ok((
        Verified {
            artifact: s.artifact,
            version: s.version.clone(),
            from: s.location.clone(),
            sha256: got.sha256,
            bytes: got.bytes,
            vouch: e.vouch.clone(),
            published,
            official_differs: e.official_differs.clone(),
        },
        dest,
    ))
}

/// The labels the image carries: what it holds and where it comes from.
pub fn labels(plan: &Plan, files: &[Verified]) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (
            super::build::IMAGE_LABEL.to_string(),
            "node-agent".to_string(),
        ),
        (
            "io.k8s-manage.node-agent.base".to_string(),
            plan.base.clone(),
        ),
    ]);
    for f in files {
        l.insert(
            format!("io.k8s-manage.node-agent.{}", f.artifact.name()),
            format!("{} sha256:{}", f.version, f.sha256),
        );
    }
    l
}

/// When the image is for another architecture than this machine's: the QEMU emulation
/// the build's `RUN` steps need, checked.
pub fn check_emulation(arch: &str) -> Result<(), Failure> {
    if arch == host_arch() {
        return Ok(());
    }
    let qemu = match arch {
        "arm64" => "qemu-aarch64",
        "amd64" => "qemu-x86_64",
        other => {
            return Err(Failure::new(
                format!("no emulation is known for {other}"),
                "build on a machine of that architecture",
            ));
        }
    };
    if Path::new("/proc/sys/fs/binfmt_misc").join(qemu).exists() {
        Ok(())
    } else {
        Err(Failure::new(
            format!(
                "building a {arch} image on this {} machine runs {arch} programs (apt-get, the checks), and no {qemu} emulation is registered",
                host_arch()
            ),
            "install QEMU user emulation (`apt-get install -y qemu-user-static binfmt-support`), or run the command on a machine of that architecture",
        ))
    }
}
