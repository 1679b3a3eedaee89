//! Upstream's conformance tests against a cluster k8s-manage deployed on the sandbox.
//! `scripts/conformance.sh` runs every step; each can be run alone and again:
//!
//! - `build`: `e2e.test` and ginkgo from the pinned Kubernetes module
//!   (sandbox/upstream/kubernetes-e2e);
//! - `images`: the workload images the suite starts (agnhost, kitten, nautilus, busybox,
//!   nginx, glibc-dns-testing, nonewprivs, sample-apiserver;
//!   `sandbox::upstream::e2e_images`), in the control host's Docker;
//! - `load SANDBOX`: those images into every node of sandbox `SANDBOX`;
//! - `serve SANDBOX`: the sandbox's TLS registry started beside the nodes and trusted by
//!   them, the loaded images named under it in every node and pushed into it (a spec that
//!   pulls with `imagePullPolicy: Always` gets them from there; the others find them
//!   present);
//! - `repo-list FILE`: the suite's `KUBE_TEST_REPO_LIST` file naming that registry;
//! - `count JUNIT...`: the `[Conformance]` specs of ginkgo's JUnit reports, passed, failed
//!   and skipped, with the names of the failed and skipped ones.

use k8s_manage::sandbox;
use k8s_manage::sandbox::upstream::{e2e_images, junit};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let version =
        std::env::var("K8S_VERSION").unwrap_or_else(|_| sandbox::KUBERNETES_VERSION.into());
    let progress = |m: &str| eprintln!("{m}");
    match args.first().map(String::as_str) {
        Some("build") => {
            let (e2e, ginkgo) = sandbox::upstream::conformance_suite(&version, &progress).await?;
            println!("{}\n{}", e2e.display(), ginkgo.display());
        }
        Some("images") => {
            for r in e2e_images::build_e2e_images(&version, &progress).await? {
                println!("{r}");
            }
        }
        Some("load") => {
            let name = args.get(1).ok_or("usage: conformance load SANDBOX")?;
            load(name, &progress).await?;
        }
        Some("serve") => {
            let name = args.get(1).ok_or("usage: conformance serve SANDBOX")?;
            serve(name, &progress).await?;
        }
        Some("repo-list") => {
            let file = args.get(1).ok_or("usage: conformance repo-list FILE")?;
            std::fs::write(file, e2e_images::repo_list(&sandbox::registry_address()))?;
        }
        Some("count") => {
            let mut reports = Vec::new();
            for file in &args[1..] {
                reports.push(std::fs::read_to_string(file)?);
            }
            print!("{}", junit::ConformanceCounts::from_reports(&reports));
        }
        _ => {
            return Err(
                "usage: conformance build | images | load SANDBOX | serve SANDBOX | \
                        repo-list FILE | count JUNIT..."
                    .into(),
            );
        }
    }
    Ok(())
}

/// Load the e2e images into every node of sandbox `name`.
async fn load(name: &str, progress: &dyn Fn(&str)) -> Result<(), Error> {
    let refs = e2e_images::e2e_references();
    let nodes = sandbox::load_into_sandbox(name, &refs, progress).await?;
    progress(&format!("{} e2e images in {nodes} nodes", refs.len()));
    Ok(())
}

/// Start sandbox `name`'s registry and push the loaded e2e images into it.
async fn serve(name: &str, progress: &dyn Fn(&str)) -> Result<(), Error> {
    let registry = sandbox::start_registry(name, progress).await?;
    let pairs = e2e_images::served_references(&sandbox::registry_address());
    sandbox::push_to_registry(name, &pairs, progress).await?;
    progress(&format!(
        "{} e2e images served by {} ({})",
        pairs.len(),
        sandbox::registry_address(),
        registry.ip
    ));
    Ok(())
}
