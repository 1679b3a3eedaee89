//! Small in-memory tar archives: files uploaded into node containers and the root file
//! systems of images made from a few binaries.

/// Builds a tar archive in memory; every entry is owned by root.
pub struct TarBuilder {
    inner: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        let mut inner = tar::Builder::new(Vec::new());
        inner.mode(tar::HeaderMode::Deterministic);
        TarBuilder { inner }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(size);
        header.set_mtime(0);
        header
    }

    /// A directory (path relative to the archive root, e.g. `root/.ssh`).
    pub fn dir(&mut self, path: &str, mode: u32) -> std::io::Result<()> {
        let mut header = Self::header(tar::EntryType::Directory, mode, 0);
        self.inner
            .append_data(&mut header, path.trim_start_matches('/'), std::io::empty())
    }

    /// A regular file with the given content.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        let mut header = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.inner
            .append_data(&mut header, path.trim_start_matches('/'), data)
    }

    /// A symbolic link pointing at `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> std::io::Result<()> {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.inner
            .append_link(&mut header, path.trim_start_matches('/'), target)
    }

    /// The finished archive.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_kind_mode_and_content() {
        let mut b = TarBuilder::new();
        b.dir("/root/.ssh", 0o700).unwrap();
        b.file("root/.ssh/authorized_keys", 0o600, b"ssh-ed25519 AAAA x\n")
            .unwrap();
        b.symlink("lib", "usr/lib").unwrap();
        let bytes = b.finish().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let kind = entry.header().entry_type();
            let mut content = String::new();
            std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
            seen.push((path, mode, kind, content));
        }
        assert_eq!(seen[0].0, "root/.ssh");
        assert_eq!((seen[0].1, seen[0].2), (0o700, tar::EntryType::Directory));
        assert_eq!(seen[1].0, "root/.ssh/authorized_keys");
        assert_eq!(seen[1].1, 0o600);
        assert_eq!(seen[1].3, "ssh-ed25519 AAAA x\n");
        assert_eq!(seen[2].2, tar::EntryType::Symlink);
    }
}
