//! Writing a file on the control host with its mode: the one way every part of the tool
//! writes a file of its own (rendered artifacts, state, kubeconfigs, snapshots' checksums).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Write a file with a mode, creating parent folders (0700 when the file is secret).
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(contents)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
