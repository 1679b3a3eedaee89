//! The build context of one image: every file of `DIR/src/<image>/` in a tar stream, the
//! files of its `template-list` rendered with Tera, modes kept.

use crate::service::registry::ImageDef;
use crate::service::render::render_text;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            walk(&p, out)?;
        } else if meta.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// The tar of the build context, with the templates rendered.
pub fn context_tar(img: &ImageDef, ctx: &tera::Context) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    walk(&img.dir, &mut files).map_err(|e| format!("{}: cannot read: {e}", img.dir.display()))?;
    let mut tar = tar::Builder::new(Vec::new());
    for f in files {
        let rel = f
            .strip_prefix(&img.dir)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let mode = std::fs::metadata(&f)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        let data = if img.template_list.contains(&rel) {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{}: a template must be UTF-8 text", f.display()))?;
            render_text(&f.display().to_string(), &text, ctx)?.into_bytes()
        } else {
            bytes
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, &rel, data.as_slice())
            .map_err(|e| format!("build context of {}: {e}", img.name))?;
    }
    for t in &img.template_list {
        if !img.dir.join(t).is_file() {
            return Err(format!(
                "image {}: template {} does not exist in {}",
                img.name,
                t,
                img.dir.display()
            ));
        }
    }
    tar.into_inner()
        .map_err(|e| format!("build context of {}: {e}", img.name))
}
