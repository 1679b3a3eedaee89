//! Kubernetes and etcd versions: what is supported, and the defaults that go with each
//! Kubernetes minor.

use serde::Serialize;
use std::fmt;

/// Oldest and newest supported Kubernetes minor (1.x).
pub const MIN_MINOR: u32 = 31;
pub const MAX_MINOR: u32 = 36;
/// The default when `kubernetes-version` is not set.
pub const DEFAULT_VERSION: KubeVersion = KubeVersion {
    minor: 36,
    patch: 1,
};

/// A Kubernetes version 1.minor.patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.minor, self.patch)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl KubeVersion {
    /// "1.36.1" without the `v`.
    pub fn bare(&self) -> String {
        format!("1.{}.{}", self.minor, self.patch)
    }

    /// "1.36".
    pub fn minor_str(&self) -> String {
        format!("1.{}", self.minor)
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionProblem {
    Malformed,
    MissingPatch { minor: u32 },
    Unsupported { minor: u32, major: u32 },
}

/// Parse `v1.36.1` or `1.36.1`.
pub fn parse_kube_version(s: &str) -> Result<KubeVersion, VersionProblem> {
    let t = s.trim().trim_start_matches('v');
    let parts: Vec<&str> = t.split('.').collect();
    let num = |p: &str| p.parse::<u32>().map_err(|_| VersionProblem::Malformed);
    match parts.as_slice() {
        [maj, min] => {
            let (maj, min) = (num(maj)?, num(min)?);
            if maj != 1 || !(MIN_MINOR..=MAX_MINOR).contains(&min) {
                return Err(VersionProblem::Unsupported {
                    major: maj,
                    minor: min,
                });
            }
            Err(VersionProblem::MissingPatch { minor: min })
        }
        [maj, min, patch] => {
            let (maj, min) = (num(maj)?, num(min)?);
            let patch = num(patch.split(['-', '+']).next().unwrap_or(patch))?;
            if maj != 1 || !(MIN_MINOR..=MAX_MINOR).contains(&min) {
                return Err(VersionProblem::Unsupported {
                    major: maj,
                    minor: min,
                });
            }
            Ok(KubeVersion { minor: min, patch })
        }
        _ => Err(VersionProblem::Malformed),
    }
}

/// The supported range, for messages.
pub fn supported_range() -> String {
    format!("v1.{MIN_MINOR} to v1.{MAX_MINOR}")
}

/// The etcd image tag kubeadm pairs with each Kubernetes minor (kubeadm v1.36.1's
/// `SupportedEtcdVersion` for 1.34 and later).
pub fn default_etcd_version(v: KubeVersion) -> &'static str {
    match v.minor {
        31 => "3.5.15-0",
        32 => "3.5.16-0",
        33 => "3.5.21-0",
        _ => "3.6.8-0",
    }
}

/// etcd minors we render flags for (3.4 exists for Debian's etcd used in the sandbox).
pub fn parse_etcd_minor(s: &str) -> Option<(u32, u32)> {
    let t = s.trim().trim_start_matches('v');
    let mut it = t.split(['.', '-']);
    let maj = it.next()?.parse().ok()?;
    let min = it.next()?.parse().ok()?;
    Some((maj, min))
}

pub fn etcd_supported(major: u32, minor: u32) -> bool {
    major == 3 && (4..=6).contains(&minor)
}

/// The pause image tag kubeadm uses with each minor.
pub fn default_pause_version(v: KubeVersion) -> &'static str {
    match v.minor {
        36.. => "3.10.2",
        34 | 35 => "3.10.1",
        _ => "3.10",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_and_refuses_old() {
        assert_eq!(
            parse_kube_version("v1.36.1"),
            Ok(KubeVersion {
                minor: 36,
                patch: 1
            })
        );
        assert_eq!(
            parse_kube_version("1.31.0"),
            Ok(KubeVersion {
                minor: 31,
                patch: 0
            })
        );
        assert_eq!(
            parse_kube_version("v1.9.4"),
            Err(VersionProblem::Unsupported { major: 1, minor: 9 })
        );
        assert_eq!(
            parse_kube_version("v1.36"),
            Err(VersionProblem::MissingPatch { minor: 36 })
        );
        assert_eq!(parse_kube_version("latest"), Err(VersionProblem::Malformed));
        assert_eq!(
            parse_kube_version("v1.37.0"),
            Err(VersionProblem::Unsupported {
                major: 1,
                minor: 37
            })
        );
    }

    #[test]
    fn etcd_minor() {
        assert_eq!(parse_etcd_minor("3.5.15-0"), Some((3, 5)));
        assert_eq!(parse_etcd_minor("3.2.17"), Some((3, 2)));
        assert!(!etcd_supported(3, 2));
        assert!(etcd_supported(3, 4));
    }
}
