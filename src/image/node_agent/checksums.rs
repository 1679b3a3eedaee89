//! What SHA-256 a release file must have: the config's pin (`node-agent-checksums`), else
//! the built-in table of official releases (`release-checksums.txt`, each block with its
//! source). A file with neither is refused before anything is downloaded.

use super::sources::Artifact;
use crate::diag::At;
use crate::model::node_agent::ChecksumPin;
use serde::Serialize;

/// The built-in table: `<artifact> <version> <arch> <sha256>` lines and `#` comments.
pub const TABLE_TEXT: &str = include_str!("release-checksums.txt");

/// Where the table lives in the source tree (for messages).
pub const TABLE_PATH: &str = "src/image/node_agent/release-checksums.txt";

/// One row of the built-in table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub artifact: String,
    pub version: String,
    pub arch: String,
    pub sha256: String,
}

/// Parse one non-comment line of the table.
pub fn parse_row(line: &str) -> Result<Row, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [artifact, version, arch, sha256] = fields[..] else {
        return Err(format!(
            "{line:?}: want `<artifact> <version> <arch> <sha256>`"
        ));
    };
    let (version, artifact) = match artifact {
        "kubelet" => (crate::model::node_agent::kubelet_version(version), artifact),
        "cri-dockerd" => (
            crate::model::node_agent::cri_dockerd_version(version),
            artifact,
        ),
        other => return Err(format!("{line:?}: unknown artifact {other:?}")),
    };
    let version = version.ok_or_else(|| format!("{line:?}: bad version"))?;
    if !crate::model::node_agent::ARCHES.contains(&arch) {
        return Err(format!("{line:?}: unknown architecture {arch:?}"));
    }
    let sha256 = crate::model::node_agent::sha256_hex(sha256)
        .filter(|h| h == sha256)
        .ok_or_else(|| format!("{line:?}: not a lowercase SHA-256"))?;
    Ok(Row {
        artifact: artifact.to_string(),
        version,
        arch: arch.to_string(),
        sha256,
    })
}

/// Every row of the table. A line that does not parse is left out (the unit tests keep
/// the table clean, so there is none).
pub fn table() -> Vec<Row> {
    TABLE_TEXT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| parse_row(l).ok())
        .collect()
}

/// The table's SHA-256 for one file.
pub fn known(artifact: Artifact, version: &str, arch: &str) -> Option<String> {
    table()
        .into_iter()
        .find(|r| r.artifact == artifact.name() && r.version == version && r.arch == arch)
        .map(|r| r.sha256)
}

/// The versions the table has for an artifact and architecture, oldest first.
pub fn versions(artifact: Artifact, arch: &str) -> Vec<String> {
    let mut v: Vec<String> = table()
        .into_iter()
        .filter(|r| r.artifact == artifact.name() && r.arch == arch)
        .map(|r| r.version)
        .collect();
    v.sort_by_key(|s| {
        s.trim_start_matches('v')
            .split('.')
            .map(|n| n.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    v.dedup();
    v
}

/// Who vouches for the expected checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Vouch {
    /// The built-in table.
    Table,
    /// A pin of the config, written at `at`.
    Pin { at: At },
}

impl std::fmt::Display for Vouch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Vouch::Table => write!(f, "the built-in table ({TABLE_PATH})"),
            Vouch::Pin { at } => write!(f, "the pin at {at}"),
        }
    }
}

/// The SHA-256 a file must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub sha256: String,
    pub vouch: Vouch,
    /// The official release's checksum when a pin differs from it (a site's own build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official_differs: Option<String>,
}

/// The expected SHA-256 of a file: its pin, else its table row; None when neither has it.
pub fn expected(
    artifact: Artifact,
    version: &str,
    arch: &str,
    pins: &[ChecksumPin],
) -> Option<Expected> {
    let official = known(artifact, version, arch);
    let pin = pins
        .iter()
        .find(|p| p.artifact == artifact.name() && p.version == version && p.arch == arch);
    match (pin, official) {
        (Some(p), official) => Some(Expected {
            sha256: p.sha256.clone(),
            vouch: Vouch::Pin { at: p.at.clone() },
            official_differs: official.filter(|o| *o != p.sha256),
        }),
        (None, Some(o)) => Some(Expected {
            sha256: o,
            vouch: Vouch::Table,
            official_differs: None,
        }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_table_parses_and_none_repeats() {
        let mut seen = std::collections::BTreeSet::new();
        let mut rows = 0;
        for line in TABLE_TEXT.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let r = parse_row(line).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                seen.insert((r.artifact, r.version, r.arch)),
                "{line} repeats a row"
            );
            rows += 1;
        }
        assert_eq!(rows, table().len());
        assert!(rows > 100, "{rows}");
    }

    #[test]
    fn every_block_names_its_source() {
        let mut source = false;
        for line in TABLE_TEXT.lines() {
            if line.is_empty() {
                source = false;
            } else if line.starts_with("# ") && line.contains("https://github.com/") {
                source = true;
            } else if !line.starts_with('#') {
                assert!(source, "{line}: no source above it");
            }
        }
    }

    #[test]
    fn the_table_has_the_official_kubelet_of_the_default_version() {
        // kubespray 46dbdd39, roles/kubespray_defaults/vars/main/checksums.yml
        assert_eq!(
            known(Artifact::Kubelet, "v1.36.1", "amd64").as_deref(),
            Some("7efa1780c73d9fb3a464002864e582eb2d15aa691e475eaae323093d08feae14")
        );
        assert!(known(Artifact::Kubelet, "v1.35.4", "arm64").is_some());
        assert!(known(Artifact::Kubelet, "v1.31.0", "amd64").is_some());
        // The default cri-dockerd is the table's newest row, so an untouched config builds;
        // no source has a 0.4.x checksum.
        let default = crate::config::keys::DEFAULT_CRI_DOCKERD_VERSION;
        for arch in ["amd64", "arm64"] {
            assert!(
                known(Artifact::CriDockerd, default, arch).is_some(),
                "{arch}"
            );
        }
        assert_eq!(known(Artifact::CriDockerd, "0.4.3", "amd64"), None);
        let v = versions(Artifact::CriDockerd, "amd64");
        assert_eq!(v.first().map(String::as_str), Some("0.3.16"));
        assert_eq!(v.last().map(String::as_str), Some(default));
    }

    #[test]
    fn a_pin_wins_over_the_table_and_says_when_it_differs() {
        let at = At::file(&std::sync::Arc::from("k.yaml"));
        let pin = |sha: &str| ChecksumPin {
            artifact: "kubelet".into(),
            version: "v1.36.1".into(),
            arch: "amd64".into(),
            sha256: sha.into(),
            at: at.clone(),
        };
        let official = known(Artifact::Kubelet, "v1.36.1", "amd64").unwrap();
        let e = expected(
            Artifact::Kubelet,
            "v1.36.1",
            "amd64",
            &[pin(&"a".repeat(64))],
        )
        .unwrap();
        assert_eq!(e.sha256, "a".repeat(64));
        assert_eq!(e.vouch, Vouch::Pin { at: at.clone() });
        assert_eq!(e.official_differs.as_deref(), Some(official.as_str()));
        let e = expected(Artifact::Kubelet, "v1.36.1", "amd64", &[pin(&official)]).unwrap();
        assert_eq!(e.official_differs, None);
        let e = expected(Artifact::Kubelet, "v1.36.1", "amd64", &[]).unwrap();
        assert_eq!(e.vouch, Vouch::Table);
        assert_eq!(expected(Artifact::Kubelet, "v1.36.99", "amd64", &[]), None);
    }
}
