//! `install-kubectl`: put a kubectl matching the cluster (checked by SHA-256) and the admin
//! kubeconfig on the control host.

use super::exit;
use super::output::{err, out};
use super::run_setup::{load, runtime};
use crate::cli::OutputFormat;
use crate::run;
use std::path::{Path, PathBuf};

pub fn install_kubectl(
    dir: &Path,
    from: Option<String>,
    sha256: Option<String>,
    dest: &Path,
    kubeconfig: Option<PathBuf>,
    force: bool,
    color: bool,
) -> i32 {
    let cluster = match load(dir, color, OutputFormat::Text) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let admin_path = run::state::admin_kubeconfig_path(&cluster);
    let admin = match std::fs::read_to_string(&admin_path) {
        Ok(a) => a,
        Err(_) => {
            err(&format!(
                "error: {} does not exist\n  fix: run `k8s-manage deploy -p {}` first\n",
                admin_path.display(),
                dir.display()
            ));
            return exit::FAILED;
        }
    };
    let source = match from {
        None => run::kubectl::Source::System,
        Some(s) if s.starts_with("https://") || s.starts_with("http://") => {
            run::kubectl::Source::Url { url: s, sha256 }
        }
        Some(p) => run::kubectl::Source::Path(PathBuf::from(p)),
    };
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    let kubectl = match rt.block_on(run::kubectl::install(&source, dest)) {
        Ok(p) => p,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::FAILED;
        }
    };
    let target = kubeconfig.unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".kube").join("config")
    });
    // a file that exists but cannot be read is not an empty kubeconfig
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            err(&format!(
                "error: cannot read {}: {e}\n  fix: make it a readable kubeconfig, or pass --kubeconfig FILE; nothing was changed\n",
                target.display()
            ));
            return exit::FAILED;
        }
    };
    let names = run::kubectl::EntryNames::for_cluster(&cluster.kubernetes.cluster_name);
    let merged = match run::kubectl::merge(&existing, &admin, &names, force) {
        Ok(m) => m,
        Err(e) => {
            err(&format!(
                "error: {}: {e}\n  nothing was changed\n",
                target.display()
            ));
            return exit::FAILED;
        }
    };
    if !existing.is_empty() {
        let backup = target.with_extension(format!(
            "bak-{}",
            time::OffsetDateTime::now_utc().unix_timestamp()
        ));
        if let Err(e) = crate::local_file::write_file(&backup, existing.as_bytes(), 0o600) {
            err(&format!(
                "error: cannot keep a backup {}: {e}; nothing was changed\n",
                backup.display()
            ));
            return exit::FAILED;
        }
    }
    if let Err(e) = crate::local_file::write_file(&target, merged.as_bytes(), 0o600) {
        err(&format!("error: cannot write {}: {e}\n", target.display()));
        return exit::FAILED;
    }
    let context = names.context.clone();
    match run::kubectl::check_readyz(&kubectl, &target, &context) {
        Ok(answer) => {
            out(&format!(
                "kubectl {} with context {context} in {}: /readyz says {answer}\n",
                kubectl.display(),
                target.display()
            ));
            exit::OK
        }
        Err(e) => {
            err(&format!(
                "error: {e}\n  the context was merged into {}; check that the API endpoint {} is reachable from here\n",
                target.display(),
                cluster.api_url()
            ));
            exit::FAILED
        }
    }
}
