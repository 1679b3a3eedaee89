//! Writing rendered artifacts to an output folder:
//! `OUT/nodes/<hostname>/files/<absolute node path>` (with the node's modes),
//! `OUT/nodes/<hostname>/containers/<name>.yaml`, `OUT/cluster/<manifest>.yaml`.

use super::addons::RenderedManifest;
use super::node::NodeArtifacts;
use crate::local_file::write_file;
use std::path::{Path, PathBuf};

/// Everything written, for the report.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<PathBuf>,
}

pub fn write_all(
    out: &Path,
    nodes: &[NodeArtifacts],
    cluster: &[RenderedManifest],
) -> Result<Written, (PathBuf, std::io::Error)> {
    let mut w = Written::default();
    for n in nodes {
        let base = out.join("nodes").join(&n.hostname);
        for f in &n.files {
            let p = base.join("files").join(f.path.trim_start_matches('/'));
            write_file(&p, f.contents.as_bytes(), f.mode).map_err(|e| (p.clone(), e))?;
            w.files.push(p);
        }
        for c in &n.containers {
            let p = base.join("containers").join(format!("{}.yaml", c.name));
            let text = serde_saphyr::to_string(c)
                .unwrap_or_else(|_| serde_json::to_string_pretty(c).unwrap_or_default());
            write_file(&p, text.as_bytes(), 0o644).map_err(|e| (p.clone(), e))?;
            w.files.push(p);
        }
    }
    for m in cluster {
        let p = out.join("cluster").join(&m.file_name);
        write_file(&p, m.content.as_bytes(), 0o644).map_err(|e| (p.clone(), e))?;
        w.files.push(p);
    }
    Ok(w)
}
