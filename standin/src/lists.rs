//! The embedded upstream flag lists and the choice of the list for a component and version.
//!
//! Kubernetes lists come from `tests/data/flags/` (see SOURCE.md there); cri-dockerd's from
//! `standin/data/` (written from knowledge, see the README there).

use crate::component::Component;

/// One flag list: every accepted flag, and the texts whose flags are rejected as deprecated.
pub struct List {
    pub component: &'static str,
    pub version: &'static str,
    pub flags: &'static str,
    pub deprecated: &'static [&'static str],
}

impl List {
    pub fn knows(&self, flag: &str) -> bool {
        self.flags.lines().any(|l| l.trim() == flag)
    }

    pub fn is_deprecated(&self, flag: &str) -> bool {
        self.deprecated
            .iter()
            .any(|text| text.lines().any(|l| l.trim() == flag))
    }
}

const LISTS: &[List] = &[
    List {
        component: "kube-apiserver",
        version: "1.31",
        flags: include_str!("../../tests/data/flags/kube-apiserver-1.31.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-apiserver-1.31.deprecated.txt"
        )],
    },
    List {
        component: "kube-apiserver",
        version: "1.36",
        flags: include_str!("../../tests/data/flags/kube-apiserver-1.36.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-apiserver-1.36.deprecated.txt"
        )],
    },
    List {
        component: "kube-controller-manager",
        version: "1.31",
        flags: include_str!("../../tests/data/flags/kube-controller-manager-1.31.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-controller-manager-1.31.deprecated.txt"
        )],
    },
    List {
        component: "kube-controller-manager",
        version: "1.36",
        flags: include_str!("../../tests/data/flags/kube-controller-manager-1.36.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-controller-manager-1.36.deprecated.txt"
        )],
    },
    List {
        component: "kube-scheduler",
        version: "1.36",
        flags: include_str!("../../tests/data/flags/kube-scheduler-1.36.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-scheduler-1.36.deprecated.txt"
        )],
    },
    List {
        component: "kubelet",
        version: "1.34",
        flags: include_str!("../../tests/data/flags/kubelet-1.34.txt"),
        deprecated: &[
            include_str!("../../tests/data/flags/kubelet-1.34.deprecated.txt"),
            include_str!("../../tests/data/flags/kubelet-1.34.deprecated-for-removal.txt"),
        ],
    },
    List {
        component: "kubelet",
        version: "1.36",
        flags: include_str!("../../tests/data/flags/kubelet-1.36.txt"),
        deprecated: &[
            include_str!("../../tests/data/flags/kubelet-1.36.deprecated.txt"),
            include_str!("../../tests/data/flags/kubelet-1.36.deprecated-for-removal.txt"),
        ],
    },
    List {
        component: "kube-proxy",
        version: "1.31",
        flags: include_str!("../../tests/data/flags/kube-proxy-1.31.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-proxy-1.31.deprecated.txt"
        )],
    },
    List {
        component: "kube-proxy",
        version: "1.36",
        flags: include_str!("../../tests/data/flags/kube-proxy-1.36.txt"),
        deprecated: &[include_str!(
            "../../tests/data/flags/kube-proxy-1.36.deprecated.txt"
        )],
    },
    List {
        component: "cri-dockerd",
        version: "0.3",
        flags: include_str!("../data/cri-dockerd-0.3.txt"),
        deprecated: &[include_str!("../data/cri-dockerd-0.3.deprecated.txt")],
    },
];

/// A Kubernetes minor version such as 1.36.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minor {
    pub major: u32,
    pub minor: u32,
}

impl Minor {
    /// Parses `1.36`, `v1.36` or `1.36.2`.
    pub fn parse(text: &str) -> Option<Minor> {
        let t = text.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Minor { major, minor })
    }
}

impl std::fmt::Display for Minor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The list for `component` nearest to `wanted` (ties go to the newer list), and whether it
/// is an exact match. cri-dockerd has one list whatever the Kubernetes version.
pub fn select(component: Component, wanted: Minor) -> (&'static List, bool) {
    let candidates: Vec<&List> = LISTS
        .iter()
        .filter(|l| l.component == component.name())
        .collect();
    if component == Component::CriDockerd {
        return (candidates[0], true);
    }
    let distance = |l: &&List| {
        let v = Minor::parse(l.version).expect("embedded version");
        let d = (i64::from(v.major) - i64::from(wanted.major)) * 1000
            + (i64::from(v.minor) - i64::from(wanted.minor));
        (d.abs(), std::cmp::Reverse(v))
    };
    let best = candidates
        .into_iter()
        .min_by_key(distance)
        .expect("every component has a list");
    let exact = Minor::parse(best.version) == Some(wanted);
    (best, exact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_nearest() {
        let v = |s| Minor::parse(s).unwrap();
        let (l, exact) = select(Component::ApiServer, v("1.36"));
        assert!(exact && l.version == "1.36");
        let (l, exact) = select(Component::Kubelet, v("v1.31.4"));
        assert!(!exact && l.version == "1.34");
        let (l, _) = select(Component::Kubelet, v("1.35"));
        assert_eq!(l.version, "1.36");
        let (l, _) = select(Component::Scheduler, v("1.31"));
        assert_eq!(l.version, "1.36");
    }

    #[test]
    fn kubelet_rejects_both_deprecated_lists() {
        let (l, _) = select(Component::Kubelet, Minor::parse("1.36").unwrap());
        assert!(l.knows("config") && !l.is_deprecated("config"));
        assert!(l.is_deprecated("anonymous-auth"));
        assert!(l.is_deprecated("maximum-dead-containers"));
    }
}
