//! Which Kubernetes component this process stands in for, chosen by argv[0] or the first argument.

use std::path::Path;

/// A component the stand-in can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
    Kubelet,
    Proxy,
    CriDockerd,
}

impl Component {
    pub const ALL: [Component; 6] = [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Kubelet,
        Component::Proxy,
        Component::CriDockerd,
    ];

    /// The upstream binary name.
    pub fn name(self) -> &'static str {
        match self {
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Kubelet => "kubelet",
            Component::Proxy => "kube-proxy",
            Component::CriDockerd => "cri-dockerd",
        }
    }

    pub fn from_name(name: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Picks the component from argv: the basename of argv[0], else the first argument.
/// Returns the component and the remaining arguments (flags).
pub fn select(argv: &[String]) -> Option<(Component, &[String])> {
    let base = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if let Some(c) = Component::from_name(base) {
        return Some((c, &argv[1..]));
    }
    let first = argv.get(1)?;
    Component::from_name(first).map(|c| (c, &argv[2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn by_argv0_basename() {
        let a = args(&["/usr/local/bin/kubelet", "--v=2"]);
        let (c, rest) = select(&a).unwrap();
        assert_eq!(c, Component::Kubelet);
        assert_eq!(rest, &a[1..]);
    }

    #[test]
    fn by_first_argument() {
        let a = args(&["k8s-standin", "kube-proxy", "--v=2"]);
        let (c, rest) = select(&a).unwrap();
        assert_eq!(c, Component::Proxy);
        assert_eq!(rest, &a[2..]);
        assert!(select(&args(&["k8s-standin", "etcd"])).is_none());
    }
}
