//! Where `image node-agent` takes the kubelet and cri-dockerd from, and what it trusts:
//! `release-mirror`, `cri-dockerd-version`, `node-agent-base-image` and
//! `node-agent-checksums` of the `kubernetes:` section, checked.

use crate::config::keys::DEFAULT_CRI_DOCKERD_VERSION;
use crate::config::raw::{RawChecksumPin, RawKubernetes};
use crate::diag::{At, Diagnostic, Diagnostics};
use serde::Serialize;
use std::path::PathBuf;

/// The image the node-agent image is built on unless `node-agent-base-image` says otherwise.
pub const DEFAULT_BASE_IMAGE: &str = "docker.io/library/debian:bookworm-slim";

/// The release files the image is made of.
pub const ARTIFACTS: &[&str] = &["kubelet", "cri-dockerd"];

/// The architectures the image can be made for.
pub const ARCHES: &[&str] = &["amd64", "arm64"];

/// Where the release files come from instead of their official sites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseMirror {
    /// An `http://` or `https://` base URL (no trailing slash).
    Url(String),
    /// A folder, as written (relative to the config dir unless absolute).
    Dir(PathBuf),
}

/// A SHA-256 the config pins for one release file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksumPin {
    /// `kubelet` or `cri-dockerd`.
    pub artifact: String,
    /// `v1.36.1` for the kubelet, `0.4.3` for cri-dockerd.
    pub version: String,
    pub arch: String,
    /// Lowercase hex.
    pub sha256: String,
    /// Where the pin is written.
    pub at: At,
}

/// The node-agent image's sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeAgentSettings {
    /// `0.4.3` (no `v`).
    pub cri_dockerd_version: String,
    pub base_image: String,
    pub release_mirror: Option<ReleaseMirror>,
    /// Where `release-mirror` is written.
    pub release_mirror_at: Option<At>,
    pub checksum_pins: Vec<ChecksumPin>,
}

/// `v1.36.1` from `v1.36.1` or `1.36.1`; None unless three dot-separated numbers.
pub fn kubelet_version(s: &str) -> Option<String> {
    release_number(s.strip_prefix('v').unwrap_or(s)).map(|n| format!("v{n}"))
}

/// `0.4.3` from `0.4.3` or `v0.4.3`; None unless three dot-separated numbers.
pub fn cri_dockerd_version(s: &str) -> Option<String> {
    release_number(s.strip_prefix('v').unwrap_or(s))
}

fn release_number(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| s.to_string())
}

/// Lowercase hex of a SHA-256 written as `<hex>` or `sha256:<hex>`.
pub fn sha256_hex(s: &str) -> Option<String> {
    let hex = s.trim().strip_prefix("sha256:").unwrap_or(s.trim());
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_lowercase())
}

/// Read and check the keys; every problem goes to `diags`.
pub fn build(raw: &RawKubernetes, diags: &mut Diagnostics) -> NodeAgentSettings {
    let cri_dockerd_version = match raw.scalars.get("cri-dockerd-version") {
        None => DEFAULT_CRI_DOCKERD_VERSION.to_string(),
        Some(l) => cri_dockerd_version(&l.value).unwrap_or_else(|| {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!(
                        "`cri-dockerd-version: {}` is not a cri-dockerd release number",
                        l.value
                    ),
                )
                .fix(format!(
                    "write a release such as `cri-dockerd-version: {DEFAULT_CRI_DOCKERD_VERSION}`, or delete the key"
                )),
            );
            DEFAULT_CRI_DOCKERD_VERSION.to_string()
        }),
    };
    if let Some(l) = raw.scalars.get("cri-dockerd-version") {
        let n: Vec<u64> = cri_dockerd_version
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        if n < vec![0, 3, 16] {
            diags.push(
                Diagnostic::warning(
                    l.at.clone(),
                    format!("cri-dockerd {cri_dockerd_version} is older than 0.3.16, the first whose Docker client speaks API 1.44, the oldest Docker 29 accepts"),
                )
                .fix(format!("use 0.3.16 or later (the default is {DEFAULT_CRI_DOCKERD_VERSION})")),
            );
        }
    }
    let base_image = match raw.scalars.get("node-agent-base-image") {
        None => DEFAULT_BASE_IMAGE.to_string(),
        Some(l) if l.value.is_empty() || l.value.contains(char::is_whitespace) => {
            diags.push(
                Diagnostic::error(
                    l.at.clone(),
                    format!("`node-agent-base-image: {}` is not an image reference", l.value),
                )
                .fix(format!("write a Debian image reference such as `{DEFAULT_BASE_IMAGE}`, or delete the key")),
            );
            DEFAULT_BASE_IMAGE.to_string()
        }
        Some(l) => l.value.clone(),
    };
    let (release_mirror, release_mirror_at) = match raw.scalars.get("release-mirror") {
        None => (None, None),
        Some(l) => (mirror(&l.value, &l.at, diags), Some(l.at.clone())),
    };
    let mut checksum_pins: Vec<ChecksumPin> = Vec::new();
    for p in &raw.node_agent_checksums {
        let Some(pin) = pin(p, diags) else { continue };
        if let Some(first) = checksum_pins
            .iter()
            .find(|q| q.artifact == pin.artifact && q.version == pin.version && q.arch == pin.arch)
        {
            diags.push(
                Diagnostic::error(
                    pin.at.clone(),
                    format!(
                        "{} {} {} is pinned twice (first at {})",
                        pin.artifact, pin.version, pin.arch, first.at
                    ),
                )
                .related(first.at.clone())
                .fix("keep one pin per file"),
            );
            continue;
        }
        checksum_pins.push(pin);
    }
    NodeAgentSettings {
        cri_dockerd_version,
        base_image,
        release_mirror,
        release_mirror_at,
        checksum_pins,
    }
}

fn mirror(value: &str, at: &At, diags: &mut Diagnostics) -> Option<ReleaseMirror> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let host = v.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if host.is_empty() || host.starts_with('/') || v.contains(char::is_whitespace) {
            diags.push(
                Diagnostic::error(at.clone(), format!("`release-mirror: {v}` has no host"))
                    .fix("write e.g. `release-mirror: http://10.0.0.5:8080/releases`"),
            );
            return None;
        }
        return Some(ReleaseMirror::Url(v.trim_end_matches('/').to_string()));
    }
    if let Some(path) = v.strip_prefix("file://") {
        return Some(ReleaseMirror::Dir(PathBuf::from(path)));
    }
    if v.is_empty() || v.contains("://") {
        diags.push(
            Diagnostic::error(
                at.clone(),
                format!("`release-mirror: {v}` is neither an http(s) URL nor a folder"),
            )
            .fix("write an http:// or https:// base URL, or a folder (absolute, or relative to the config dir)"),
        );
        return None;
    }
    Some(ReleaseMirror::Dir(PathBuf::from(v)))
}

fn pin(p: &RawChecksumPin, diags: &mut Diagnostics) -> Option<ChecksumPin> {
    let shape = "node-agent-checksums: {kubelet: {v1.36.1: {amd64: <sha256>}}, cri-dockerd: {0.4.3: {amd64: <sha256>}}}";
    let artifact = p.artifact.value.as_str();
    if !ARTIFACTS.contains(&artifact) {
        diags.push(
            Diagnostic::error(
                p.artifact.at.clone(),
                format!("`{artifact}` under `node-agent-checksums` is not a release file of the node-agent image"),
            )
            .fix(format!("use `kubelet` or `cri-dockerd`: {shape}")),
        );
        return None;
    }
    let version = if artifact == "kubelet" {
        kubelet_version(&p.version.value)
    } else {
        cri_dockerd_version(&p.version.value)
    };
    let Some(version) = version else {
        diags.push(
            Diagnostic::error(
                p.version.at.clone(),
                format!(
                    "`{}` under `node-agent-checksums.{artifact}` is not a release number",
                    p.version.value
                ),
            )
            .fix(format!("write the version the file belongs to: {shape}")),
        );
        return None;
    };
    if !ARCHES.contains(&p.arch.value.as_str()) {
        diags.push(
            Diagnostic::error(
                p.arch.at.clone(),
                format!(
                    "`{}` under `node-agent-checksums.{artifact}.{}` is not an architecture the image is made for",
                    p.arch.value, p.version.value
                ),
            )
            .fix("use `amd64` or `arm64`"),
        );
        return None;
    }
    let Some(sha256) = sha256_hex(&p.sha256.value) else {
        diags.push(
            Diagnostic::error(
                p.sha256.at.clone(),
                format!(
                    "the pin for {artifact} {version} {} is not a SHA-256 (64 hex digits)",
                    p.arch.value
                ),
            )
            .fix("write the file's `sha256sum` output, e.g. `amd64: 7efa1780...` (quote it if YAML reads it as a number)"),
        );
        return None;
    };
    Some(ChecksumPin {
        artifact: artifact.to_string(),
        version,
        arch: p.arch.value.clone(),
        sha256,
        at: p.sha256.at.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reader::Located;

    fn raw(scalars: &[(&str, &str)], pins: &[(&str, &str, &str, &str)]) -> RawKubernetes {
        let at = At::file(&std::sync::Arc::from("k.yaml"));
        let loc = |s: &str| Located::new(s.to_string(), at.clone());
        let mut r = RawKubernetes::default();
        for (k, v) in scalars {
            r.scalars.insert(k.to_string(), loc(v));
        }
        for (a, v, x, s) in pins {
            r.node_agent_checksums.push(RawChecksumPin {
                artifact: loc(a),
                version: loc(v),
                arch: loc(x),
                sha256: loc(s),
            });
        }
        r
    }

    const HEX: &str = "7efa1780c73d9fb3a464002864e582eb2d15aa691e475eaae323093d08feae14";

    #[test]
    fn defaults_when_nothing_is_set() {
        let mut d = Diagnostics::default();
        let s = build(&raw(&[], &[]), &mut d);
        assert!(d.list.is_empty(), "{d:?}");
        assert_eq!(s.cri_dockerd_version, DEFAULT_CRI_DOCKERD_VERSION);
        assert_eq!(s.base_image, DEFAULT_BASE_IMAGE);
        assert_eq!(s.release_mirror, None);
        assert!(s.checksum_pins.is_empty());
    }

    #[test]
    fn versions_pins_and_mirrors_are_normalised() {
        let mut d = Diagnostics::default();
        let upper = format!("sha256:{}", HEX.to_uppercase());
        let s = build(
            &raw(
                &[
                    ("cri-dockerd-version", "v0.3.26"),
                    ("release-mirror", "http://10.0.0.5:8080/releases/"),
                ],
                &[
                    ("kubelet", "1.36.1", "amd64", &upper),
                    ("cri-dockerd", "v0.4.3", "arm64", HEX),
                ],
            ),
            &mut d,
        );
        assert!(d.list.is_empty(), "{d:?}");
        assert_eq!(s.cri_dockerd_version, "0.3.26");
        assert_eq!(
            s.release_mirror,
            Some(ReleaseMirror::Url("http://10.0.0.5:8080/releases".into()))
        );
        assert_eq!(s.checksum_pins[0].version, "v1.36.1");
        assert_eq!(s.checksum_pins[0].sha256, HEX);
        assert_eq!(s.checksum_pins[1].version, "0.4.3");
        let s = build(&raw(&[("release-mirror", "mirror")], &[]), &mut d);
        assert_eq!(s.release_mirror, Some(ReleaseMirror::Dir("mirror".into())));
        let s = build(&raw(&[("release-mirror", "file:///srv/m")], &[]), &mut d);
        assert_eq!(s.release_mirror, Some(ReleaseMirror::Dir("/srv/m".into())));
    }

    #[test]
    fn bad_values_are_errors_with_a_fix() {
        let mut d = Diagnostics::default();
        build(
            &raw(
                &[
                    ("cri-dockerd-version", "latest"),
                    ("release-mirror", "ftp://m/x"),
                    ("node-agent-base-image", "debian bookworm"),
                ],
                &[
                    ("kube-proxy", "v1.36.1", "amd64", HEX),
                    ("kubelet", "1.36", "amd64", HEX),
                    ("kubelet", "v1.36.1", "ppc64le", HEX),
                    ("kubelet", "v1.36.1", "amd64", "abc"),
                    ("cri-dockerd", "0.4.3", "amd64", HEX),
                    ("cri-dockerd", "v0.4.3", "amd64", HEX),
                ],
            ),
            &mut d,
        );
        let errors: Vec<String> = d.list.iter().map(|x| x.message.clone()).collect();
        assert_eq!(errors.len(), 8, "{errors:#?}");
        assert!(d.list.iter().all(|x| x.fix.is_some()), "{d:?}");
        assert!(
            errors.iter().any(|e| e.contains("pinned twice")),
            "{errors:?}"
        );
    }

    #[test]
    fn an_old_cri_dockerd_is_a_warning() {
        let mut d = Diagnostics::default();
        let s = build(&raw(&[("cri-dockerd-version", "0.3.15")], &[]), &mut d);
        assert_eq!(s.cri_dockerd_version, "0.3.15");
        assert_eq!(d.list.len(), 1, "{d:?}");
        assert!(!d.has_errors());
        let mut d = Diagnostics::default();
        build(&raw(&[("cri-dockerd-version", "0.3.16")], &[]), &mut d);
        assert!(d.list.is_empty(), "{d:?}");
    }
}
