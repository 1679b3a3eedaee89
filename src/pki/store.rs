//! Where PKI files live: a directory on the control host (every file 0600, every directory
//! 0700, atomic writes) or a map in memory. Callers only write what changed, so a run that
//! changes nothing touches no file.

use super::PkiError;
use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files addressed by a relative path such as `etcd/ca.key`.
pub(crate) trait Store {
    /// The file's text, or `None` when it does not exist.
    fn read(&self, rel: &str) -> Result<Option<String>, PkiError>;
    /// Create or replace the file.
    fn write(&mut self, rel: &str, contents: &str) -> Result<(), PkiError>;
    /// Remove the file; absent is fine.
    fn remove(&mut self, rel: &str) -> Result<(), PkiError>;
    /// How to name the file in a message.
    fn display(&self, rel: &str) -> String;
}

/// A PKI that exists only in memory (`plan`, tests, benches).
#[derive(Default)]
pub(crate) struct MemStore {
    files: BTreeMap<String, String>,
}

impl MemStore {
    /// Every file under `root` (relative paths, `/`-separated), read without changing
    /// anything on disk: a read-only view that later in-memory writes never reach.
    pub(crate) fn copy_of_dir(root: &Path) -> Result<MemStore, PkiError> {
        let mut files = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries =
                fs::read_dir(&dir).map_err(|e| PkiError::io("read directory", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| PkiError::io("read directory", &dir, e))?;
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|e| PkiError::io("inspect", &path, e))?;
                if kind.is_dir() {
                    pending.push(path);
                } else if kind.is_file() {
                    let Ok(rel) = path.strip_prefix(root) else {
                        continue;
                    };
                    let rel = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    if rel.rsplit('/').next().is_some_and(|n| n.starts_with('.')) {
                        continue; // temporary files of an interrupted write
                    }
                    let text =
                        fs::read_to_string(&path).map_err(|e| PkiError::io("read", &path, e))?;
                    files.insert(rel, text);
                }
            }
        }
        Ok(MemStore { files })
    }

    /// The stored files, by relative path.
    pub(crate) fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }
}

impl Store for MemStore {
    fn read(&self, rel: &str) -> Result<Option<String>, PkiError> {
        Ok(self.files.get(rel).cloned())
    }
    fn write(&mut self, rel: &str, contents: &str) -> Result<(), PkiError> {
        self.files.insert(rel.to_string(), contents.to_string());
        Ok(())
    }
    fn remove(&mut self, rel: &str) -> Result<(), PkiError> {
        self.files.remove(rel);
        Ok(())
    }
    fn display(&self, rel: &str) -> String {
        format!("pki/{rel}")
    }
}

/// The PKI directory on the control host, `DIR/.k8s-manage/pki`.
pub(crate) struct DirStore {
    root: PathBuf,
}

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

impl DirStore {
    /// Create `root` (and missing parents) with mode 0700; tighten it if it is looser.
    pub(crate) fn open(root: &Path) -> Result<Self, PkiError> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(root)
            .map_err(|e| PkiError::io("create directory", root, e))?;
        tighten(root, DIR_MODE)?;
        Ok(DirStore {
            root: root.to_path_buf(),
        })
    }

    /// Directories between the root and `rel`, outermost first.
    fn parents(&self, rel: &str) -> Vec<PathBuf> {
        let mut dir = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        parts
            .iter()
            .take(parts.len().saturating_sub(1))
            .map(|part| {
                dir.push(part);
                dir.clone()
            })
            .collect()
    }

    /// Tighten every existing directory between the root and `rel` to 0700.
    fn tighten_parents(&self, rel: &str) -> Result<(), PkiError> {
        self.parents(rel)
            .iter()
            .try_for_each(|dir| tighten(dir, DIR_MODE))
    }

    /// Create every directory between the root and `rel`'s parent with mode 0700.
    fn make_parents(&self, rel: &str) -> Result<(), PkiError> {
        for dir in self.parents(rel) {
            match DirBuilder::new().mode(DIR_MODE).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(PkiError::io("create directory", &dir, e)),
            }
            tighten(&dir, DIR_MODE)?;
        }
        Ok(())
    }
}

/// Remove group/other permission bits from an existing path (chmod keeps content and mtime).
fn tighten(path: &Path, mode: u32) -> Result<(), PkiError> {
    let meta = fs::metadata(path).map_err(|e| PkiError::io("inspect", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(mode))
            .map_err(|e| PkiError::io("restrict permissions of", path, e))?;
    }
    Ok(())
}

impl Store for DirStore {
    fn read(&self, rel: &str) -> Result<Option<String>, PkiError> {
        let path = self.root.join(rel);
        match fs::read_to_string(&path) {
            Ok(text) => {
                tighten(&path, FILE_MODE)?;
                self.tighten_parents(rel)?;
                Ok(Some(text))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PkiError::io("read", path, e)),
        }
    }

    fn write(&mut self, rel: &str, contents: &str) -> Result<(), PkiError> {
        self.make_parents(rel)?;
        let path = self.root.join(rel);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .map_err(|e| PkiError::io("create", &tmp, e))?;
        // The umask may only have removed bits; make the mode exact anyway.
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(|e| PkiError::io("restrict permissions of", &tmp, e))?;
        file.write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| PkiError::io("write", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| PkiError::io("replace", &path, e))?;
        Ok(())
    }

    fn remove(&mut self, rel: &str) -> Result<(), PkiError> {
        let path = self.root.join(rel);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PkiError::io("remove", path, e)),
        }
    }

    fn display(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}
