//! The workload images upstream's conformance tests (`e2e.test`) start, made here for the
//! sandbox: agnhost built from the pinned Kubernetes module's `test/images/agnhost`, the
//! kitten and nautilus pages from the same module's `test/images`, nonewprivs' `nnp` and the
//! sample API server from their Go modules, Debian 12's `dig` and `getent` for the DNS
//! probe image, busybox 1.37.0 built from its release source ([`super::busybox`]) for the
//! busybox image, and Debian 12's nginx in place of the official nginx image.
//!
//! They are named under [`E2E_REGISTRY`] (not `registry.k8s.io`), with the tags `e2e.test`
//! asks for, and served by the sandbox's registry under [`served_registry`]; the suite is
//! pointed there with `KUBE_TEST_REPO_LIST` ([`repo_list`]). Where
//! the content is not upstream's image, the doc of [`E2eImage`] and `CONFORMANCE.md` say
//! so. pause and etcd are the components' own images (`registry.k8s.io`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::go_build;
use super::modules::{self, Program};
use crate::closure::MinimalImage;
use crate::error::SandboxError;
use crate::{engine, labels, rootfs};

/// The registry the sandbox's e2e images are named under (`promoterE2eRegistry` in the
/// suite's repo list).
pub const E2E_REGISTRY: &str = "k8s-manage-sandbox/e2e-test-images";

/// Bump when the way these images are put together changes.
const FORMAT_VERSION: &str = "3";

/// The Debian programs the e2e images carry besides agnhost: what upstream's agnhost image
/// installs (curl, dig, nc, ip and ss, bash) and nginx.
pub const E2E_TOOLS_RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "e2e-tools",
    include: &[
        "busybox",
        "curl",
        "bind9-dnsutils",
        "netcat-openbsd",
        "iproute2",
        "bash",
        "nginx-light",
        "ca-certificates",
    ],
    post_install: "apt-get clean\nrm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

/// Applets left out of the busybox links: Debian 12's busybox `wget` crashes (SIGSEGV) on
/// every request on this machine; a test that needs it fails with "not found" instead.
const LEFT_OUT_APPLETS: &[&str] = &["wget"];

/// One image the suite starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E2eImage {
    /// agnhost, built from the Kubernetes module's `test/images/agnhost` (its VERSION file
    /// is the tag), with the tools upstream's image installs. The suite also names the
    /// previous agnhost (`agnhost:2.55`, StatefulSet and other web-server specs); no pinned
    /// module holds that version, so the same build answers under that tag too.
    Agnhost,
    /// agnhost serving the `kitten` page of `test/images/kitten` (`test-webserver`).
    Kitten,
    /// The same with the `nautilus` page.
    Nautilus,
    /// busybox 1.37.0 built from its release source with busybox's defconfig, as the
    /// official image the suite's busybox is made from ([`super::busybox`] says why not
    /// Debian's), with every applet linked.
    Busybox,
    /// Debian 12's nginx-light (1.22) serving a default page on port 80, under both nginx
    /// tags the suite names.
    Nginx,
    /// The DNS specs' glibc probe: upstream's is Debian bookworm-slim with `dnsutils`; this
    /// one has the same Debian 12 `dig`, glibc's `getent`, dash as `sh`, and busybox for
    /// the rest of the probe script's commands (`seq`, `awk`, `hostname`, `sleep`).
    GlibcDnsTesting,
    /// `nnp` (it prints its effective uid), setuid root as upstream's image has it, built
    /// from `k8s.io/kubernetes/test/images/nonewprivs`.
    Nonewprivs,
    /// `k8s.io/sample-apiserver` at this Kubernetes version's staging version, which the
    /// Aggregator specs register. Upstream's image under the suite's tag (1.29.2) is an
    /// older build of the same module.
    SampleApiserver,
}

impl E2eImage {
    pub const ALL: [E2eImage; 8] = [
        E2eImage::Agnhost,
        E2eImage::Kitten,
        E2eImage::Nautilus,
        E2eImage::Busybox,
        E2eImage::Nginx,
        E2eImage::GlibcDnsTesting,
        E2eImage::Nonewprivs,
        E2eImage::SampleApiserver,
    ];

    /// The references (under [`E2E_REGISTRY`]) the suite of Kubernetes v1.36 asks for.
    pub fn references(self) -> Vec<String> {
        let tags: &[&str] = match self {
            E2eImage::Agnhost => &["agnhost:2.63.0", "agnhost:2.55"],
            E2eImage::Kitten => &["kitten:1.8"],
            E2eImage::Nautilus => &["nautilus:1.8"],
            E2eImage::Busybox => &["busybox:1.37.0-1"],
            E2eImage::Nginx => &["nginx:1.27-0", "nginx:1.15-4"],
            E2eImage::GlibcDnsTesting => &["glibc-dns-testing:2.0.0"],
            E2eImage::Nonewprivs => &["nonewprivs:1.4"],
            E2eImage::SampleApiserver => &["sample-apiserver:1.29.2"],
        };
        tags.iter().map(|t| format!("{E2E_REGISTRY}/{t}")).collect()
    }

    fn changes(self) -> Vec<String> {
        let agnhost = vec![
            "ENTRYPOINT [\"/agnhost\"]".to_string(),
            "CMD [\"pause\"]".to_string(),
        ];
        match self {
            E2eImage::Agnhost => agnhost,
            E2eImage::Kitten | E2eImage::Nautilus => vec![
                "ENTRYPOINT [\"/agnhost\"]".into(),
                "CMD [\"test-webserver\"]".into(),
            ],
            E2eImage::Busybox => vec!["CMD [\"sh\"]".into()],
            E2eImage::Nginx => vec![
                "CMD [\"nginx\", \"-g\", \"daemon off;\"]".into(),
                "EXPOSE 80".into(),
            ],
            E2eImage::GlibcDnsTesting => vec!["CMD [\"/bin/sh\"]".into()],
            E2eImage::Nonewprivs => vec!["CMD [\"nnp\"]".into()],
            E2eImage::SampleApiserver => vec!["ENTRYPOINT [\"/sample-apiserver\"]".into()],
        }
    }
}

/// Every reference [`build_e2e_images`] makes.
pub fn e2e_references() -> Vec<String> {
    E2eImage::ALL.iter().flat_map(|i| i.references()).collect()
}

/// The repository folder the e2e images are served under in a registry.
pub const SERVED_FOLDER: &str = "e2e-test-images";

/// Where a registry at `registry` (`host:port`) serves the e2e images.
pub fn served_registry(registry: &str) -> String {
    format!("{registry}/{SERVED_FOLDER}")
}

/// Each reference [`build_e2e_images`] makes, with its name under [`served_registry`].
pub fn served_references(registry: &str) -> Vec<(String, String)> {
    let served = served_registry(registry);
    e2e_references()
        .into_iter()
        .map(|r| {
            let name = r.strip_prefix(&format!("{E2E_REGISTRY}/")).unwrap_or(&r);
            let to = format!("{served}/{name}");
            (r, to)
        })
        .collect()
}

/// The suite's `KUBE_TEST_REPO_LIST` file: the e2e images from the sandbox's registry at
/// `registry` ([`served_registry`]), pause and etcd from `registry.k8s.io` (the
/// components' own images, already on every node).
pub fn repo_list(registry: &str) -> String {
    format!(
        "promoterE2eRegistry: {}\n\
         gcRegistry: registry.k8s.io\n\
         gcEtcdRegistry: registry.k8s.io\n",
        served_registry(registry)
    )
}

/// Build (or find) the e2e images for Kubernetes `version` in the control host's Docker.
/// Returns every reference made or found.
pub async fn build_e2e_images(
    version: &str,
    progress: &dyn Fn(&str),
) -> Result<Vec<String>, SandboxError> {
    let module = modules::find(Program::Kubernetes, version).ok_or_else(|| {
        SandboxError::InvalidOptions(format!(
            "the e2e images are built from a pinned Kubernetes module; {version} is not one of {}",
            modules::kubernetes_versions().join(", ")
        ))
    })?;
    let programs = modules::find(Program::E2eImages, version).ok_or_else(|| {
        SandboxError::InvalidOptions(format!(
            "the e2e images' Go programs are pinned for {} only; add {version} with \
             sandbox/upstream/add-version.sh e2e-images {version}",
            modules::versions(Program::E2eImages).join(", ")
        ))
    })?;
    let docker = engine::connect().await?;
    let mut made = Vec::new();
    let mut inputs: Option<Inputs> = None;
    for image in E2eImage::ALL {
        let hash = recipe_hash(image, module, programs);
        let references = image.references();
        let mut current = true;
        for r in &references {
            let label = engine::image_labels(&docker, r)
                .await?
                .and_then(|l| l.get(labels::IMAGE_RECIPE).cloned());
            current &= label.as_deref() == Some(hash.as_str());
        }
        if !current {
            if inputs.is_none() {
                let tools = super::images::recipe_root(&E2E_TOOLS_RECIPE, progress).await?;
                let bin = go_build::ensure_built(module, &["agnhost"], progress).await?;
                let source = go_build::module_source(module, "k8s.io/kubernetes").await?;
                let programs = go_build::ensure_built(programs, &[], progress).await?;
                let busybox = super::busybox::ensure_busybox(progress).await?;
                inputs = Some(Inputs {
                    busybox,
                    tools,
                    agnhost: bin.join("agnhost"),
                    images: source.join("test/images"),
                    programs,
                });
            }
            let inputs = inputs.as_ref().expect("set above");
            for r in &references {
                progress(&format!("making image {r}"));
                let mut changes = vec![
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                        .to_string(),
                    format!("LABEL {}={hash}", labels::IMAGE_RECIPE),
                    "LABEL io.k8s-manage.sandbox-built-from=upstream-source".to_string(),
                ];
                changes.extend(image.changes());
                assemble(image, inputs)
                    .await?
                    .import(&docker, r, &changes)
                    .await?;
            }
        }
        made.extend(references);
    }
    Ok(made)
}

/// What the images are made of: the Debian tools root, agnhost, the module's `test/images`
/// the folder of the other Go programs and busybox built from source.
struct Inputs {
    busybox: PathBuf,
    tools: PathBuf,
    agnhost: PathBuf,
    images: PathBuf,
    programs: PathBuf,
}

fn recipe_hash(
    image: E2eImage,
    module: &modules::GoModule,
    programs: &modules::GoModule,
) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT_VERSION.as_bytes());
    h.update(E2E_TOOLS_RECIPE.hash().as_bytes());
    h.update(format!("{image:?}{:?}{LEFT_OUT_APPLETS:?}", image.changes()).as_bytes());
    h.update(go_build::build_hash(module).as_bytes());
    h.update(go_build::build_hash(programs).as_bytes());
    h.update(super::busybox::build_hash().as_bytes());
    hex::encode(h.finalize())[..16].to_string()
}

/// Debian's busybox of the tools root with its applets linked, less [`LEFT_OUT_APPLETS`].
async fn with_busybox(image: &mut MinimalImage, tools: &Path) -> Result<(), SandboxError> {
    image.binary("/bin/busybox", "/bin/busybox").await?;
    let applets = super::busybox::applets(
        tokio::process::Command::new("chroot")
            .arg(tools)
            .args(["/bin/busybox", "--list"]),
    )
    .await?;
    link_applets(
        image,
        applets
            .iter()
            .filter(|a| !LEFT_OUT_APPLETS.contains(&a.as_str())),
    )
}

/// `/bin/<applet>` → `busybox` for each applet the image has nothing at yet.
fn link_applets<'a>(
    image: &mut MinimalImage,
    applets: impl Iterator<Item = &'a String>,
) -> Result<(), SandboxError> {
    for applet in applets {
        let path = format!("/bin/{applet}");
        if !image.contains(&path) {
            image.symlink(&path, "busybox")?;
        }
    }
    Ok(())
}

/// agnhost and what upstream's agnhost image holds besides: its tools (and glibc's
/// `getent`, which upstream's Alpine base has), `/uploads`, the
/// porter's test certificate, the `agnhost-2` link and the user and group one test expects.
async fn agnhost_parts(
    image: &mut MinimalImage,
    tools: &Path,
    agnhost: &Path,
    images: &Path,
) -> Result<(), SandboxError> {
    image.host_file(agnhost, "/agnhost", 0o755)?;
    image.symlink("/agnhost-2", "agnhost")?;
    image.dir("/uploads", 0o755)?;
    for name in ["localhost.crt", "localhost.key"] {
        image.host_file(
            &images.join("agnhost/porter").join(name),
            &format!("/{name}"),
            0o644,
        )?;
    }
    for tool in [
        "/usr/bin/curl",
        "/usr/bin/dig",
        "/usr/bin/nc.openbsd",
        "/usr/bin/bash",
        "/usr/bin/ss",
        "/usr/sbin/ip",
        // the DNS specs' probe script resolves /etc/hosts names with it
        "/usr/bin/getent",
    ] {
        image.binary(tool, tool).await?;
    }
    image.symlink("/usr/bin/nc", "nc.openbsd")?;
    with_busybox(image, tools).await
}

async fn assemble(which: E2eImage, inputs: &Inputs) -> Result<MinimalImage, SandboxError> {
    let Inputs {
        busybox,
        tools,
        agnhost,
        images,
        programs,
    } = inputs;
    let mut image = MinimalImage::new(tools)?;
    match which {
        E2eImage::Agnhost | E2eImage::Kitten | E2eImage::Nautilus => {
            // Upstream's image: user-defined-in-image (1000) in group-defined-in-image (50000).
            image.file(
                "/etc/passwd",
                0o644,
                b"root:x:0:0:root:/root:/bin/sh\n\
                  user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n\
                  nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
            )?;
            image.file(
                "/etc/group",
                0o644,
                b"root:x:0:\nuser-defined-in-image:x:1000:\n\
                  group-defined-in-image:x:50000:user-defined-in-image\nnogroup:x:65534:\n",
            )?;
            image.file(
                "/etc/nsswitch.conf",
                0o644,
                b"passwd: files\ngroup: files\nhosts: files dns\n",
            )?;
            let bundle = "/etc/ssl/certs/ca-certificates.crt";
            image.copy(bundle, bundle)?;
            agnhost_parts(&mut image, tools, agnhost, images).await?;
            let page = match which {
                E2eImage::Kitten => Some("kitten"),
                E2eImage::Nautilus => Some("nautilus"),
                _ => None,
            };
            if let Some(page) = page {
                let html = images.join(page).join("html");
                image.host_file(
                    &html.join(format!("{page}.jpg")),
                    &format!("/{page}.jpg"),
                    0o644,
                )?;
                image.host_file(&html.join("data.json"), "/data.json", 0o644)?;
            }
        }
        E2eImage::Busybox => {
            image.base_files(&[])?;
            image.host_file(busybox, "/bin/busybox", 0o755)?;
            let applets =
                super::busybox::applets(tokio::process::Command::new(busybox).arg("--list"))
                    .await?;
            link_applets(&mut image, applets.iter())?;
        }
        E2eImage::GlibcDnsTesting => {
            image.base_files(&[])?;
            image.binary("/usr/bin/dash", "/bin/dash").await?;
            image.symlink("/bin/sh", "dash")?;
            image.binary("/usr/bin/dig", "/usr/bin/dig").await?;
            image.binary("/usr/bin/getent", "/usr/bin/getent").await?;
            with_busybox(&mut image, tools).await?;
        }
        E2eImage::Nonewprivs => {
            image.base_files(&[])?;
            image.host_file(&programs.join("nnp"), "/usr/local/bin/nnp", 0o4755)?;
            with_busybox(&mut image, tools).await?;
        }
        E2eImage::SampleApiserver => {
            image.base_files(&[])?;
            image.host_file(
                &programs.join("sample-apiserver"),
                "/sample-apiserver",
                0o755,
            )?;
        }
        E2eImage::Nginx => {
            image.base_files(&[("www-data", 33)])?;
            image.binary("/usr/sbin/nginx", "/usr/sbin/nginx").await?;
            image.copy("/etc/nginx/mime.types", "/etc/nginx/mime.types")?;
            image.file("/etc/nginx/nginx.conf", 0o644, NGINX_CONF.as_bytes())?;
            image.file(
                "/usr/share/nginx/html/index.html",
                0o644,
                b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n\
                  <body><h1>Welcome to nginx!</h1></body></html>\n",
            )?;
            for dir in ["/var/log/nginx", "/var/lib/nginx", "/run"] {
                image.dir(dir, 0o755)?;
            }
            with_busybox(&mut image, tools).await?;
        }
    }
    Ok(image)
}

/// A default server on port 80, as the official image has; logs to the container's output.
const NGINX_CONF: &str = "user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    access_log /dev/stdout;
    server {
        listen 80 default_server;
        listen [::]:80 default_server;
        root /usr/share/nginx/html;
        index index.html;
    }
}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_image_is_under_the_sandbox_registry_with_the_suites_tag() {
        let refs = e2e_references();
        assert!(refs.iter().all(|r| r.starts_with(E2E_REGISTRY)), "{refs:?}");
        for want in [
            "agnhost:2.63.0",
            "busybox:1.37.0-1",
            "nginx:1.27-0",
            "kitten:1.8",
            "glibc-dns-testing:2.0.0",
            "nonewprivs:1.4",
            "sample-apiserver:1.29.2",
        ] {
            assert!(
                refs.contains(&format!("{E2E_REGISTRY}/{want}")),
                "{want} not in {refs:?}"
            );
        }
    }

    #[test]
    fn the_repo_list_points_the_suite_at_the_registry() {
        let list = repo_list("registry.example.test:5000");
        assert!(
            list.contains("promoterE2eRegistry: registry.example.test:5000/e2e-test-images\n"),
            "{list}"
        );
        assert!(list.contains("gcRegistry: registry.k8s.io"), "{list}");
    }

    #[test]
    fn served_names_keep_the_image_name_and_tag() {
        let pairs = served_references("registry.example.test:5000");
        assert_eq!(pairs.len(), e2e_references().len());
        assert!(pairs.contains(&(
            format!("{E2E_REGISTRY}/kitten:1.8"),
            "registry.example.test:5000/e2e-test-images/kitten:1.8".to_string()
        )));
        assert!(
            pairs
                .iter()
                .all(|(_, to)| to.starts_with("registry.example.test:5000/e2e-test-images/")),
            "{pairs:?}"
        );
    }

    #[test]
    fn recipes_differ_per_image() {
        let m = modules::find(Program::Kubernetes, "v1.36.1").unwrap();
        let p = modules::find(Program::E2eImages, "v1.36.1").unwrap();
        let hashes: std::collections::BTreeSet<_> = E2eImage::ALL
            .iter()
            .map(|i| recipe_hash(*i, m, p))
            .collect();
        assert_eq!(hashes.len(), E2eImage::ALL.len());
    }
}
