//! The upstream Go programs the sandbox builds, each pinned by a Go module of the
//! repository (`sandbox/upstream/<program>/<version>/{go.mod,go.sum}`, written by
//! `sandbox/upstream/add-version.sh`) and embedded here, so the binary builds them
//! wherever it runs. The packages each builds are `sandbox/upstream/<program>/packages`
//! (`import/path [binary name]` per line).

/// One upstream program at one version: the module that pins it and what it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoModule {
    pub program: Program,
    pub version: &'static str,
    pub go_mod: &'static str,
    pub go_sum: &'static str,
}

/// The upstream programs, by the folder name under `sandbox/upstream/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Program {
    /// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
    /// kubectl and agnhost, from `k8s.io/kubernetes`.
    Kubernetes,
    /// The conformance suite of `k8s.io/kubernetes` (`e2e.test`) and ginkgo.
    KubernetesE2e,
    /// The suite's workload images that are Go programs: `nnp` (nonewprivs) and the
    /// sample API server.
    E2eImages,
    /// etcd, etcdctl and etcdutl.
    Etcd,
    CriDockerd,
    Coredns,
    /// flanneld.
    Flannel,
    /// bridge, loopback, host-local and portmap.
    CniPlugins,
    /// The `flannel` CNI plugin (the last `containernetworking/plugins` release that has
    /// it; its successor module `flannel-io/cni-plugin` is not served by the proxy).
    CniFlannel,
    /// rancher's local-path-provisioner (the `local-path-provisioner` add-on).
    LocalPathProvisioner,
}

impl Program {
    pub fn dir(self) -> &'static str {
        match self {
            Program::Kubernetes => "kubernetes",
            Program::KubernetesE2e => "kubernetes-e2e",
            Program::E2eImages => "e2e-images",
            Program::Etcd => "etcd",
            Program::CriDockerd => "cri-dockerd",
            Program::Coredns => "coredns",
            Program::Flannel => "flannel",
            Program::CniPlugins => "cni-plugins",
            Program::CniFlannel => "cni-flannel",
            Program::LocalPathProvisioner => "local-path-provisioner",
        }
    }

    /// `sandbox/upstream/<program>/packages`.
    fn packages_file(self) -> &'static str {
        match self {
            Program::Kubernetes => {
                include_str!("../../upstream/kubernetes/packages")
            }
            Program::KubernetesE2e => {
                include_str!("../../upstream/kubernetes-e2e/packages")
            }
            Program::E2eImages => include_str!("../../upstream/e2e-images/packages"),
            Program::Etcd => include_str!("../../upstream/etcd/packages"),
            Program::CriDockerd => include_str!("../../upstream/cri-dockerd/packages"),
            Program::Coredns => include_str!("../../upstream/coredns/packages"),
            Program::Flannel => include_str!("../../upstream/flannel/packages"),
            Program::CniPlugins => include_str!("../../upstream/cni-plugins/packages"),
            Program::CniFlannel => include_str!("../../upstream/cni-flannel/packages"),
            Program::LocalPathProvisioner => {
                include_str!("../../upstream/local-path-provisioner/packages")
            }
        }
    }

    /// Every program the module builds.
    pub fn packages(self) -> Vec<Package> {
        parse_packages(self.packages_file())
    }

    /// Whether the program needs cgo: flannel's udp backend is C (linked statically, as
    /// flannel's own Makefile does). Everything else builds with `CGO_ENABLED=0`.
    pub fn cgo(self) -> bool {
        self == Program::Flannel
    }

    /// `-X` settings that make the binaries report their real version, as the upstream
    /// build scripts set them.
    pub fn version_ldflags(self, version: &str) -> Vec<String> {
        let bare = version.trim_start_matches('v');
        let x = |var: &str, value: &str| format!("-X {var}={value}");
        match self {
            Program::Kubernetes | Program::KubernetesE2e | Program::E2eImages => {
                let minor = bare.split('.').nth(1).unwrap_or("0");
                let mut v = Vec::new();
                for pkg in [
                    "k8s.io/component-base/version",
                    "k8s.io/client-go/pkg/version",
                ] {
                    v.push(x(&format!("{pkg}.gitVersion"), version));
                    v.push(x(&format!("{pkg}.gitMajor"), "1"));
                    v.push(x(&format!("{pkg}.gitMinor"), minor));
                    v.push(x(&format!("{pkg}.gitTreeState"), "clean"));
                    v.push(x(&format!("{pkg}.buildDate"), "1970-01-01T00:00:00Z"));
                }
                v
            }
            // etcd and CoreDNS carry their version as a constant.
            Program::Etcd | Program::Coredns => Vec::new(),
            Program::CriDockerd => vec![x(
                "github.com/Mirantis/cri-dockerd/cmd/version.Version",
                bare,
            )],
            Program::Flannel => vec![x(
                "github.com/flannel-io/flannel/pkg/version.Version",
                version,
            )],
            Program::CniPlugins | Program::CniFlannel => vec![x(
                "github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion",
                version,
            )],
            // Its scripts/build sets the version the same way.
            Program::LocalPathProvisioner => vec![x("main.VERSION", version)],
        }
    }
}

/// One program a module builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    pub path: &'static str,
    /// The binary's name.
    pub name: &'static str,
    /// A test binary (`go test -c`), not a command (`go build`).
    pub test: bool,
}

/// `import/path [name [test]]` lines; the name defaults to the path's last element.
pub fn parse_packages(text: &'static str) -> Vec<Package> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let path = words.next().unwrap_or(l);
            let name = words
                .next()
                .unwrap_or_else(|| path.rsplit('/').next().unwrap_or(path));
            Package {
                path,
                name,
                test: words.next() == Some("test"),
            }
        })
        .collect()
}

macro_rules! module {
    ($program:ident, $dir:literal, $version:literal) => {
        GoModule {
            program: Program::$program,
            version: $version,
            go_mod: include_str!(concat!("../../upstream/", $dir, "/", $version, "/go.mod")),
            go_sum: include_str!(concat!("../../upstream/", $dir, "/", $version, "/go.sum")),
        }
    };
}

/// Every pinned module. A Kubernetes version the sandbox supports has a row here.
pub const MODULES: &[GoModule] = &[
    module!(Kubernetes, "kubernetes", "v1.36.1"),
    module!(Kubernetes, "kubernetes", "v1.35.4"),
    module!(KubernetesE2e, "kubernetes-e2e", "v1.36.1"),
    module!(E2eImages, "e2e-images", "v1.36.1"),
    module!(Etcd, "etcd", "v3.6.8"),
    module!(CriDockerd, "cri-dockerd", "v0.4.3"),
    module!(Coredns, "coredns", "v1.14.2"),
    module!(Flannel, "flannel", "v0.28.4"),
    module!(CniPlugins, "cni-plugins", "v1.7.1"),
    module!(CniFlannel, "cni-flannel", "v0.9.1"),
    module!(LocalPathProvisioner, "local-path-provisioner", "v0.0.30"),
];

/// The pinned module of `program` at `version`.
pub fn find(program: Program, version: &str) -> Option<&'static GoModule> {
    MODULES
        .iter()
        .find(|m| m.program == program && m.version == version)
}

/// The single pinned version of a program that has one (everything but Kubernetes).
pub fn only_version(program: Program) -> &'static GoModule {
    let mut it = MODULES.iter().filter(|m| m.program == program);
    let first = it.next().expect("every program has a pinned module");
    debug_assert!(it.next().is_none(), "{program:?} has several versions");
    first
}

/// The versions of `program` that are pinned.
pub fn versions(program: Program) -> Vec<&'static str> {
    MODULES
        .iter()
        .filter(|m| m.program == program)
        .map(|m| m.version)
        .collect()
}

/// The Kubernetes versions the sandbox can build.
pub fn kubernetes_versions() -> Vec<&'static str> {
    versions(Program::Kubernetes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_name_their_binaries() {
        let p: Vec<(&str, &str)> = Program::Etcd
            .packages()
            .iter()
            .map(|p| (p.path, p.name))
            .collect();
        assert_eq!(
            p,
            [
                ("go.etcd.io/etcd/server/v3", "etcd"),
                ("go.etcd.io/etcd/etcdctl/v3", "etcdctl"),
                ("go.etcd.io/etcd/etcdutl/v3", "etcdutl")
            ]
        );
        let e2e = Program::KubernetesE2e.packages();
        assert!(e2e[0].test && e2e[0].name == "e2e.test", "{e2e:?}");
        assert!(!e2e[1].test && e2e[1].name == "ginkgo", "{e2e:?}");
        let k: Vec<&str> = Program::Kubernetes
            .packages()
            .iter()
            .map(|p| p.name)
            .collect();
        for want in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet",
            "kube-proxy",
        ] {
            assert!(k.contains(&want), "{k:?}");
        }
    }

    #[test]
    fn every_module_requires_its_upstream_at_its_version_and_has_sums() {
        for m in MODULES {
            assert!(
                m.go_mod.contains(&format!(" {}\n", m.version)),
                "{:?} {}: go.mod does not require that version",
                m.program,
                m.version
            );
            assert!(
                m.go_mod.contains(&format!(
                    "module k8s-manage.local/upstream/{}",
                    m.program.dir()
                )),
                "{:?}",
                m.program
            );
            assert!(m.go_sum.lines().count() > 5, "{:?}", m.program);
            // Nothing points at a local folder: everything comes from the module proxy.
            assert!(!m.go_mod.contains("=> ./") && !m.go_mod.contains("=> ../"));
        }
    }

    #[test]
    fn kubernetes_binaries_report_the_real_version() {
        let flags = Program::Kubernetes.version_ldflags("v1.36.1");
        assert!(flags.contains(&"-X k8s.io/component-base/version.gitVersion=v1.36.1".into()));
        assert!(flags.contains(&"-X k8s.io/component-base/version.gitMinor=36".into()));
        assert!(flags.contains(&"-X k8s.io/client-go/pkg/version.gitMajor=1".into()));
        assert_eq!(kubernetes_versions(), ["v1.36.1", "v1.35.4"]);
        assert!(Program::KubernetesE2e.version_ldflags("v1.36.1").len() > 5);
    }
}
