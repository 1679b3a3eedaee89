//! The container images of the upstream components, made from the binaries built from
//! source ([`super::go_build`]) and a few Debian tools, under the names a real rack pulls
//! (`registry.k8s.io/kube-apiserver:v1.36.1`, ...), as the product's image defaults
//! name them. Each holds only its programs and the libraries they load; an image that
//! exists and was made by the current recipe is kept.
//!
//! Where the sandbox's image differs from upstream's, it says so in its name: the
//! flannel CNI plugin comes from the last `containernetworking/plugins` release that had
//! it (`k8s-manage-sandbox/flannel-cni-plugin`), haproxy is Debian's
//! (`k8s-manage-sandbox/haproxy`), and the test workload is Debian's busybox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::go_build;
use super::modules::{self, Program};
use crate::closure::MinimalImage;
use crate::error::{IoContext, SandboxError};
use crate::product_facts::ProductFacts;
use crate::{engine, labels, rootfs};

/// Bump when the way images are put together changes.
const FORMAT_VERSION: &str = "1";

/// The Debian tools the images need besides the upstream binaries.
pub const TOOLS_RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "upstream-tools",
    include: &[
        "iptables",
        "util-linux",
        "mount",
        "iproute2",
        "socat",
        "ethtool",
        "conntrack",
        // Dynamic, not busybox-static: a statically linked glibc cannot load the name
        // service modules, and the static busybox's wget crashes on its first lookup.
        "busybox",
        "ca-certificates",
    ],
    post_install: "apt-get clean\nrm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

/// The etcd every sandbox runs (kubeadm's pairing for Kubernetes 1.34 to 1.36).
pub const ETCD_VERSION: &str = "3.6.8-0";
/// Where the node agent's image holds the CNI plugins the pod network delegates to:
/// the product's `components::paths::NODE_AGENT_CNI_DIR`, where its cri-dockerd looks
/// (a plain path, so kept here; a unit test on the product's side holds the two together).
pub const NODE_AGENT_CNI_DIR: &str = "/usr/lib/cni";
/// The sandbox's flannel CNI plugin image (see the module doc).
pub const FLANNEL_CNI_PLUGIN_IMAGE: &str = "k8s-manage-sandbox/flannel-cni-plugin:v0.9.1";
/// A small workload image for tests: Debian's busybox.
pub const BUSYBOX_IMAGE: &str = "k8s-manage-sandbox/busybox:1.35.0";

const PATH_ENV: &str = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// busybox applets linked in images that carry busybox (a shell and what scripts and
/// `kubectl exec` checks use). Not `wget`: Debian 12's busybox wget crashes (SIGSEGV) on
/// every request here; `nc` makes HTTP requests instead.
const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "cp", "cat", "ls", "mkdir", "rm", "mv", "ln", "echo", "sleep", "nslookup", "hostname",
    "httpd", "ps", "grep", "head", "tail", "env", "id", "true", "false", "test", "touch", "date",
    "nc", "ip", "ifconfig", "sed", "awk", "tr", "wc", "uname", "df",
];

/// One thing put into an image.
#[derive(Debug, Clone)]
enum Part {
    /// A binary built from source: `(program, its name in the build)` to `dest`.
    Built(Program, &'static str, String),
    /// The pause binary (compiled from the Kubernetes module's `pause.c`) to `/pause`.
    Pause,
    /// A program of the Debian tools root, with its libraries, at the same path.
    Tool(&'static str),
    /// iptables and ip6tables (legacy backend) with their extension modules.
    IptablesLegacy,
    /// Debian's busybox at /bin/busybox (with its libraries) and links for
    /// [`BUSYBOX_APPLETS`].
    Busybox,
}

/// How one image is made.
#[derive(Debug, Clone)]
struct ImageSpec {
    reference: String,
    parts: Vec<Part>,
    changes: Vec<String>,
    /// The Kubernetes version whose build it takes its Kubernetes binaries from.
    kubernetes: Option<&'static str>,
}

/// The images the product would name for a sandbox cluster of `version` on the default
/// registry.
fn product_images(
    product: &dyn ProductFacts,
    version: &str,
) -> Result<ProductImages, SandboxError> {
    let images = product
        .default_images(version, ETCD_VERSION)
        .ok_or_else(|| {
            SandboxError::InvalidOptions(format!("{version:?} is not a Kubernetes version"))
        })?;
    Ok(ProductImages {
        version: version.to_string(),
        images,
    })
}

/// The product's images for one Kubernetes version: `component → reference`.
struct ProductImages {
    version: String,
    images: BTreeMap<String, String>,
}

impl ProductImages {
    /// The reference of `component`'s image; an error when the product names none.
    fn of(&self, component: &str) -> Result<String, SandboxError> {
        self.images
            .get(component)
            .cloned()
            .ok_or_else(|| SandboxError::UnnamedImage {
                component: component.to_string(),
                version: self.version.clone(),
            })
    }
}

/// The Kubernetes versions the sandbox can build, as a sentence for errors.
fn supported() -> String {
    modules::kubernetes_versions().join(", ")
}

fn kubernetes_module(version: &str) -> Result<&'static modules::GoModule, SandboxError> {
    modules::find(Program::Kubernetes, version).ok_or_else(|| {
        SandboxError::InvalidOptions(format!(
            "the sandbox builds Kubernetes {} from source, not {version}; add a version with \
             sandbox/upstream/add-version.sh kubernetes {version} and a row in \
             sandbox/src/upstream/modules.rs",
            supported()
        ))
    })
}

fn specs_for(product: &dyn ProductFacts, version: &str) -> Result<Vec<ImageSpec>, SandboxError> {
    let module = kubernetes_module(version)?;
    let k = Some(module.version);
    let images = product_images(product, version)?;
    let entry = |e: &str| format!("ENTRYPOINT [\"{e}\"]");
    let control = |c: &'static str| -> Result<ImageSpec, SandboxError> {
        Ok(ImageSpec {
            reference: images.of(c)?,
            parts: vec![Part::Built(
                Program::Kubernetes,
                c,
                format!("/usr/local/bin/{c}"),
            )],
            changes: vec![],
            kubernetes: k,
        })
    };
    Ok(vec![
        control("kube-apiserver")?,
        control("kube-controller-manager")?,
        control("kube-scheduler")?,
        ImageSpec {
            reference: images.of("kube-proxy")?,
            parts: vec![
                Part::Built(
                    Program::Kubernetes,
                    "kube-proxy",
                    "/usr/local/bin/kube-proxy".into(),
                ),
                Part::IptablesLegacy,
                Part::Tool("/usr/sbin/conntrack"),
            ],
            changes: vec![],
            kubernetes: k,
        },
        ImageSpec {
            reference: images.of("kubelet")?,
            parts: node_agent_parts(),
            changes: vec![],
            kubernetes: k,
        },
        ImageSpec {
            reference: images.of("pause")?,
            parts: vec![Part::Pause],
            changes: vec![entry("/pause")],
            kubernetes: k,
        },
    ])
}

/// The kubelet and cri-dockerd with what they call on a host.
fn node_agent_parts() -> Vec<Part> {
    let mut parts = vec![
        Part::Built(
            Program::Kubernetes,
            "kubelet",
            "/usr/local/bin/kubelet".into(),
        ),
        Part::Built(
            Program::CriDockerd,
            "cri-dockerd",
            "/usr/local/bin/cri-dockerd".into(),
        ),
        Part::IptablesLegacy,
        Part::Busybox,
    ];
    for tool in [
        "/usr/bin/mount",
        "/usr/bin/umount",
        "/usr/bin/nsenter",
        "/usr/sbin/losetup",
        "/usr/sbin/blkid",
        "/usr/bin/findmnt",
        "/usr/sbin/ip",
        "/usr/bin/socat",
        "/usr/sbin/ethtool",
        "/usr/sbin/conntrack",
    ] {
        parts.push(Part::Tool(tool));
    }
    for plugin in ["bridge", "loopback", "host-local", "portmap"] {
        parts.push(Part::Built(
            Program::CniPlugins,
            plugin,
            format!("{NODE_AGENT_CNI_DIR}/{plugin}"),
        ));
    }
    parts
}

/// Images every version shares.
fn shared_specs(product: &dyn ProductFacts) -> Result<Vec<ImageSpec>, SandboxError> {
    let images = product_images(product, modules::kubernetes_versions()[0])?;
    Ok(vec![
        ImageSpec {
            reference: images.of("etcd")?,
            parts: vec![
                Part::Built(Program::Etcd, "etcd", "/usr/local/bin/etcd".into()),
                Part::Built(Program::Etcd, "etcdctl", "/usr/local/bin/etcdctl".into()),
                Part::Built(Program::Etcd, "etcdutl", "/usr/local/bin/etcdutl".into()),
            ],
            changes: vec![],
            kubernetes: None,
        },
        ImageSpec {
            reference: images.of("coredns")?,
            parts: vec![Part::Built(Program::Coredns, "coredns", "/coredns".into())],
            changes: vec!["ENTRYPOINT [\"/coredns\"]".into()],
            kubernetes: None,
        },
        ImageSpec {
            reference: images.of("flannel")?,
            parts: vec![
                Part::Built(Program::Flannel, "flannel", "/opt/bin/flanneld".into()),
                Part::IptablesLegacy,
                Part::Busybox,
            ],
            changes: vec!["ENTRYPOINT [\"/opt/bin/flanneld\"]".into()],
            kubernetes: None,
        },
        ImageSpec {
            reference: FLANNEL_CNI_PLUGIN_IMAGE.into(),
            parts: vec![
                Part::Built(Program::CniFlannel, "flannel", "/flannel".into()),
                Part::Busybox,
            ],
            changes: vec![],
            kubernetes: None,
        },
        ImageSpec {
            reference: images.of("local-path-provisioner")?,
            parts: vec![Part::Built(
                Program::LocalPathProvisioner,
                "local-path-provisioner",
                "/usr/bin/local-path-provisioner".into(),
            )],
            changes: vec!["ENTRYPOINT [\"local-path-provisioner\"]".into()],
            kubernetes: None,
        },
        ImageSpec {
            reference: BUSYBOX_IMAGE.into(),
            parts: vec![Part::Busybox],
            changes: vec!["CMD [\"sh\"]".into()],
            kubernetes: None,
        },
    ])
}

/// The kubectl of Kubernetes `version`, built from source when the cache lacks it.
pub async fn kubectl(version: &str, progress: &dyn Fn(&str)) -> Result<PathBuf, SandboxError> {
    let bin = go_build::ensure_built(kubernetes_module(version)?, &["kubectl"], progress).await?;
    Ok(bin.join("kubectl"))
}

/// The conformance suite of Kubernetes `version` (`e2e.test`) and ginkgo, built from source
/// when the cache lacks them (a long build: the suite links most of Kubernetes).
pub async fn conformance_suite(
    version: &str,
    progress: &dyn Fn(&str),
) -> Result<(PathBuf, PathBuf), SandboxError> {
    let module = modules::find(Program::KubernetesE2e, version).ok_or_else(|| {
        SandboxError::InvalidOptions(format!(
            "the conformance suite is pinned for {} only; add {version} with \
             sandbox/upstream/add-version.sh kubernetes-e2e {version}",
            modules::versions(Program::KubernetesE2e).join(", ")
        ))
    })?;
    let bin = go_build::ensure_built(module, &["e2e.test", "ginkgo"], progress).await?;
    Ok((bin.join("e2e.test"), bin.join("ginkgo")))
}

/// The references of every image [`build_upstream_images`] makes for `versions`.
pub fn upstream_references(
    product: &dyn ProductFacts,
    versions: &[String],
) -> Result<Vec<String>, SandboxError> {
    let mut refs: Vec<String> = shared_specs(product)?
        .into_iter()
        .map(|s| s.reference)
        .collect();
    for v in versions {
        refs.extend(specs_for(product, v)?.into_iter().map(|s| s.reference));
    }
    Ok(refs)
}

/// Build (or find) the binaries and images of the upstream components for every
/// Kubernetes version in `versions`. Returns the references made or found.
pub async fn build_upstream_images(
    product: &dyn ProductFacts,
    versions: &[String],
    progress: &dyn Fn(&str),
) -> Result<Vec<String>, SandboxError> {
    let mut specs = shared_specs(product)?;
    for v in versions {
        specs.extend(specs_for(product, v)?);
    }
    let docker = engine::connect().await?;
    let mut tools: Option<PathBuf> = None;
    let mut made = Vec::new();
    for spec in &specs {
        let hash = recipe_hash(spec);
        let current = engine::image_labels(&docker, &spec.reference)
            .await?
            .and_then(|l| l.get(labels::IMAGE_RECIPE).cloned());
        if current.as_deref() != Some(hash.as_str()) {
            if tools.is_none() {
                tools = Some(tools_root(progress).await?);
            }
            let root = tools.as_deref().expect("set above");
            progress(&format!("making image {}", spec.reference));
            assemble(spec, root, progress)
                .await?
                .import(&docker, &spec.reference, &changes(spec, &hash))
                .await?;
        }
        made.push(spec.reference.clone());
    }
    Ok(made)
}

fn changes(spec: &ImageSpec, hash: &str) -> Vec<String> {
    let mut c = vec![
        PATH_ENV.to_string(),
        format!("LABEL {}={hash}", labels::IMAGE_RECIPE),
        "LABEL io.k8s-manage.sandbox-built-from=upstream-source".to_string(),
    ];
    c.extend(spec.changes.iter().cloned());
    c
}

/// The modules an image takes binaries from.
fn modules_of(spec: &ImageSpec) -> Vec<&'static modules::GoModule> {
    let mut out = Vec::new();
    for part in &spec.parts {
        let m = match part {
            Part::Built(Program::Kubernetes, ..) | Part::Pause => spec
                .kubernetes
                .and_then(|v| modules::find(Program::Kubernetes, v)),
            Part::Built(p, ..) => Some(modules::only_version(*p)),
            _ => None,
        };
        if let Some(m) = m
            && !out.contains(&m)
        {
            out.push(m);
        }
    }
    out
}

/// Everything that decides an image's content.
fn recipe_hash(spec: &ImageSpec) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT_VERSION.as_bytes());
    h.update(TOOLS_RECIPE.hash().as_bytes());
    h.update(format!("{:?}", spec.parts).as_bytes());
    h.update(format!("{:?}", spec.changes).as_bytes());
    h.update(PATH_ENV.as_bytes());
    for m in modules_of(spec) {
        h.update(go_build::build_hash(m).as_bytes());
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// The Debian tools root file system (debootstrap, cached).
async fn tools_root(progress: &dyn Fn(&str)) -> Result<PathBuf, SandboxError> {
    recipe_root(&TOOLS_RECIPE, progress).await
}

/// The root file system of `recipe`, made once (debootstrap) into the sandbox cache as
/// `rootfs-<name>-<hash>`, under a lock so concurrent builds make it once.
pub(super) async fn recipe_root(
    recipe: &rootfs::Recipe,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, SandboxError> {
    let cache = rootfs::default_cache_dir();
    let hash = recipe.hash();
    let root = cache.join(format!("rootfs-{}-{hash}", recipe.name));
    let _lock = rootfs::lock(&cache.join(format!("{}-{hash}.lock", recipe.name))).await?;
    if !root.exists() {
        rootfs::debootstrap(recipe, &root, progress).await?;
    }
    Ok(root)
}

async fn assemble(
    spec: &ImageSpec,
    tools: &Path,
    progress: &dyn Fn(&str),
) -> Result<MinimalImage, SandboxError> {
    let mut image = MinimalImage::new(tools)?;
    image.base_files(&[])?;
    for part in &spec.parts {
        match part {
            Part::Built(program, name, dest) => {
                let module = match program {
                    Program::Kubernetes => kubernetes_module(spec.kubernetes.unwrap_or(""))?,
                    other => modules::only_version(*other),
                };
                let bin = go_build::ensure_built(module, &[name], progress).await?;
                image.host_file(&bin.join(name), dest, 0o755)?;
            }
            Part::Pause => {
                let module = kubernetes_module(spec.kubernetes.unwrap_or(""))?;
                let pause = super::pause::ensure_pause(module, &spec.reference).await?;
                image.host_file(&pause, "/pause", 0o755)?;
            }
            Part::Tool(path) => image.binary(path, path).await?,
            Part::IptablesLegacy => iptables_legacy(&mut image, tools).await?,
            Part::Busybox => {
                image.binary("/bin/busybox", "/bin/busybox").await?;
                for applet in BUSYBOX_APPLETS {
                    let path = format!("/bin/{applet}");
                    if !image.contains(&path) {
                        image.symlink(&path, "busybox")?;
                    }
                }
            }
        }
    }
    Ok(image)
}

/// `iptables`, `ip6tables` and their `-save`/`-restore` on the legacy backend, which the
/// sandbox nodes use, with every extension module.
async fn iptables_legacy(image: &mut MinimalImage, tools: &Path) -> Result<(), SandboxError> {
    let multi = "/usr/sbin/xtables-legacy-multi";
    image.binary(multi, multi).await?;
    for family in ["iptables", "ip6tables"] {
        for suffix in ["", "-save", "-restore"] {
            for variant in ["", "-legacy"] {
                let name = format!("/usr/sbin/{family}{variant}{suffix}");
                image.symlink(&name, "xtables-legacy-multi")?;
            }
        }
    }
    let modules_dir = "/usr/lib/x86_64-linux-gnu/xtables";
    let on_disk = tools.join(&modules_dir[1..]);
    let mut names: Vec<String> = std::fs::read_dir(&on_disk)
        .io("listing", &on_disk)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".so"))
        .collect();
    names.sort();
    for name in names {
        let path = format!("{modules_dir}/{name}");
        image.binary(&path, &path).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product_facts::StandIn;

    /// Every image is the product's name for it, but the two the sandbox names itself.
    #[test]
    fn the_images_are_the_ones_the_product_names() {
        // The first version: the images every version shares are named after it.
        let version = modules::kubernetes_versions()[0];
        let refs = upstream_references(&StandIn, &[version.to_string()]).unwrap();
        let product = product_images(&StandIn, version).unwrap();
        let mut want: Vec<String> = product.images.values().cloned().collect();
        want.extend([
            FLANNEL_CNI_PLUGIN_IMAGE.to_string(),
            BUSYBOX_IMAGE.to_string(),
        ]);
        want.sort();
        let mut got = refs.clone();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn an_image_the_product_does_not_name_is_an_error_not_a_panic() {
        let images = product_images(&StandIn, "v1.36.1").unwrap();
        let e = images.of("kube-nothing").unwrap_err();
        assert!(e.to_string().contains("kube-nothing"), "{e}");
    }

    #[test]
    fn an_unbuildable_version_names_the_ones_that_are() {
        let e = upstream_references(&StandIn, &["v1.31.4".to_string()]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("v1.36.1") && text.contains("add-version.sh"),
            "{text}"
        );
    }

    #[test]
    fn recipes_differ_by_version_and_content() {
        let a = specs_for(&StandIn, "v1.36.1").unwrap();
        let b = specs_for(&StandIn, "v1.35.4").unwrap();
        assert_ne!(recipe_hash(&a[0]), recipe_hash(&b[0]));
        assert_ne!(recipe_hash(&a[0]), recipe_hash(&a[1]));
    }
}
