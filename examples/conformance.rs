//! Upstream's conformance tests against a cluster k8s-manage deployed on the sandbox. Only
//! the first step exists so far (the run, and CONFORMANCE.md with its counts, are still to
//! come). Steps, each resumable:
//!
//! `cargo run --example conformance -- build` builds `e2e.test` and ginkgo from the pinned
//! Kubernetes module (sandbox/upstream/kubernetes-e2e).

use k8s_manage::sandbox;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let version =
        std::env::var("K8S_VERSION").unwrap_or_else(|_| sandbox::KUBERNETES_VERSION.into());
    match args.first().map(String::as_str) {
        Some("build") => {
            let (e2e, ginkgo) =
                sandbox::upstream::conformance_suite(&version, &|m: &str| eprintln!("{m}")).await?;
            println!("{}\n{}", e2e.display(), ginkgo.display());
        }
        _ => eprintln!("usage: conformance build"),
    }
    Ok(())
}
