//! `render`: write everything the tool would put on each node and into the cluster.
//! Creates the PKI on first use (DIR/.k8s-manage/pki, keys 0600) and reuses it.

use super::exit;
use super::output::{err, out};
use crate::model::build;
use crate::pki::Pki;
use crate::render::{cluster, node, write};
use std::path::Path;

pub fn run(dir: &Path, out_dir: &Path, color: bool) -> i32 {
    let loaded = match build::load(dir) {
        Ok(l) => l,
        Err(d) => {
            err(&d.render_text(color));
            return exit::INVALID;
        }
    };
    if !loaded.warnings.list.is_empty() {
        err(&loaded.warnings.render_text(color));
    }
    let c = &loaded.cluster;
    let pki_dir = c.state_dir().join("pki");
    let req = node::pki_request(c, time::OffsetDateTime::now_utc());
    let pki = match Pki::load_or_create(&pki_dir, &req) {
        Ok(p) => p,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::FAILED;
        }
    };
    let mut nodes = Vec::new();
    for m in &c.machines {
        match node::render_node(c, &pki, m) {
            Ok(n) => nodes.push(n),
            Err(e) => {
                err(&format!("error: {e}\n"));
                return exit::FAILED;
            }
        }
    }
    let manifests = match cluster::manifests(c) {
        Ok(m) => m,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::FAILED;
        }
    };
    match write::write_all(out_dir, &nodes, &manifests) {
        Ok(w) => {
            out(&format!(
                "rendered {} nodes and {} cluster manifests into {} ({} files); PKI in {}\n",
                nodes.len(),
                manifests.len(),
                out_dir.display(),
                w.files.len(),
                pki_dir.display()
            ));
            exit::OK
        }
        Err((p, e)) => {
            err(&format!(
                "error: cannot write {}: {e}\n  fix: choose an --out folder you can write to\n",
                p.display()
            ));
            exit::FAILED
        }
    }
}
