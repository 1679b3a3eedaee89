//! Minimal images made of a few binaries and the shared libraries they load (found with
//! `ldd`), copied out of a root file system: a Debian rootfs or the control host itself.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use tokio::process::Command;

use super::archive::TarBuilder;
use super::error::{IoContext, SandboxError};
use super::rootfs;

/// Follow every symlink in `path` as if `root` were `/`; the canonical absolute path
/// inside `root`. Absolute link targets are taken relative to `root`.
pub fn resolve_in_root(root: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let mut pending: Vec<PathBuf> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(PathBuf::from(p)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == Path::new("..") {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let on_disk = root.join(candidate.strip_prefix("/").expect("absolute"));
        let meta = std::fs::symlink_metadata(&on_disk)?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return Err(std::io::Error::other(format!(
                    "too many symlinks resolving {}",
                    path.display()
                )));
            }
            let target = std::fs::read_link(&on_disk)?;
            if target.is_absolute() {
                resolved = PathBuf::from("/");
            }
            for c in target.components().rev() {
                match c {
                    Component::Normal(p) => pending.push(PathBuf::from(p)),
                    Component::ParentDir => pending.push(PathBuf::from("..")),
                    _ => {}
                }
            }
        } else {
            resolved = candidate;
        }
    }
    Ok(resolved)
}

/// The libraries named in `ldd` output (the loader included, the vDSO left out).
/// `Err` names the libraries ldd could not find.
pub fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, String> {
    if output.contains("not a dynamic executable") || output.contains("statically linked") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    let mut missing = Vec::new();
    for line in output.lines().map(str::trim) {
        let before_addr = line.split(" (0x").next().unwrap_or("").trim();
        if let Some((name, target)) = before_addr.split_once("=>") {
            let target = target.trim();
            if target == "not found" {
                missing.push(name.trim().to_string());
            } else if target.starts_with('/') {
                libs.push(PathBuf::from(target));
            }
        } else if before_addr.starts_with('/') {
            libs.push(PathBuf::from(before_addr));
        }
    }
    if missing.is_empty() {
        Ok(libs)
    } else {
        Err(format!("libraries not found: {}", missing.join(", ")))
    }
}

/// The shared libraries `binary` (a path inside `root`) loads.
pub async fn library_closure(root: &Path, binary: &str) -> Result<Vec<PathBuf>, SandboxError> {
    let mut cmd = if root == Path::new("/") {
        let mut c = Command::new("ldd");
        c.arg(binary);
        c
    } else {
        let mut c = Command::new("chroot");
        c.arg(root).args(["ldd", binary]);
        c
    };
    // ldd exits 1 for static binaries; its words decide, not its status.
    let out = cmd.output().await.io("running ldd on", binary)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    parse_ldd(&text).map_err(|reason| SandboxError::Command {
        command: format!("ldd {binary} (root {})", root.display()),
        status: out.status.to_string(),
        output: reason,
    })
}

/// Builder of a minimal image's root file system from files of another root.
pub struct MinimalImage {
    root: PathBuf,
    tar: TarBuilder,
    added: BTreeSet<PathBuf>,
    /// Top-level symlinks reproduced from the root: `/lib` -> `/usr/lib`, ...
    top_links: Vec<(PathBuf, PathBuf)>,
}

impl MinimalImage {
    /// Start an image whose files come from `root`. Top-level symlinks of `root`
    /// (merged-/usr `lib -> usr/lib` and the like) are reproduced so library paths work.
    pub fn new(root: &Path) -> Result<Self, SandboxError> {
        let mut image = MinimalImage {
            root: root.to_path_buf(),
            tar: TarBuilder::new(),
            added: BTreeSet::new(),
            top_links: Vec::new(),
        };
        for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let path = root.join(name);
            if let Ok(target) = std::fs::read_link(&path) {
                image
                    .tar
                    .symlink(name, &target.display().to_string())
                    .io("archiving", &path)?;
                image.added.insert(PathBuf::from("/").join(name));
                image.top_links.push((
                    PathBuf::from("/").join(name),
                    PathBuf::from("/").join(target),
                ));
            }
        }
        for (dir, mode) in [("/tmp", 0o1777), ("/root", 0o700), ("/etc", 0o755)] {
            image.dir(dir, mode)?;
        }
        Ok(image)
    }

    /// `dest` with a leading reproduced symlink replaced by its target, so no entry is
    /// ever archived below a symlink (`/bin/x` becomes `/usr/bin/x` on merged-/usr roots).
    fn canonical_dest(&self, dest: &str) -> PathBuf {
        let dest = Path::new(dest);
        for (link, target) in &self.top_links {
            if let Ok(rest) = dest.strip_prefix(link) {
                return target.join(rest);
            }
        }
        dest.to_path_buf()
    }

    fn parents(&mut self, path: &Path) -> Result<(), SandboxError> {
        let mut missing = Vec::new();
        let mut p = path.parent();
        while let Some(dir) = p {
            if dir == Path::new("/") || self.added.contains(dir) {
                break;
            }
            missing.push(dir.to_path_buf());
            p = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            self.tar
                .dir(&dir.display().to_string(), 0o755)
                .io("archiving", &dir)?;
            self.added.insert(dir);
        }
        Ok(())
    }

    /// A directory.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), SandboxError> {
        let path = self.canonical_dest(path);
        if self.added.contains(&path) {
            return Ok(());
        }
        self.parents(&path)?;
        self.tar
            .dir(&path.display().to_string(), mode)
            .io("archiving", &path)?;
        self.added.insert(path);
        Ok(())
    }

    /// A file with the given content.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), SandboxError> {
        let path = self.canonical_dest(path);
        self.parents(&path)?;
        self.tar
            .file(&path.display().to_string(), mode, data)
            .io("archiving", &path)?;
        self.added.insert(path);
        Ok(())
    }

    /// Copy the file at `source` (inside the root, symlinks followed) to `dest`.
    pub fn copy(&mut self, source: &str, dest: &str) -> Result<(), SandboxError> {
        let real = resolve_in_root(&self.root, Path::new(source)).io("resolving", source)?;
        let on_disk = self.root.join(real.strip_prefix("/").expect("absolute"));
        let mode = std::fs::metadata(&on_disk)
            .io("reading", &on_disk)?
            .permissions()
            .mode()
            & 0o7777;
        let data = std::fs::read(&on_disk).io("reading", &on_disk)?;
        self.file(dest, mode, &data)
    }

    /// Whether the image already has something at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.added.contains(&self.canonical_dest(path))
    }

    /// Copy a file of the control host (outside the root: a binary built here) to `dest`.
    pub fn host_file(&mut self, source: &Path, dest: &str, mode: u32) -> Result<(), SandboxError> {
        let data = std::fs::read(source).io("reading", source)?;
        self.file(dest, mode, &data)
    }

    /// Copy a library to its canonical path, with a link from the name it is loaded by.
    fn library(&mut self, lib: &Path) -> Result<(), SandboxError> {
        let real = resolve_in_root(&self.root, lib).io("resolving", lib)?;
        if !self.added.contains(&real) {
            let real_str = real.display().to_string();
            self.copy(&real_str, &real_str)?;
        }
        let parent = lib.parent().unwrap_or(Path::new("/"));
        let dir = resolve_in_root(&self.root, parent).io("resolving", parent)?;
        let name = dir.join(lib.file_name().unwrap_or_default());
        if name != real && !self.added.contains(&name) {
            self.parents(&name)?;
            self.tar
                .symlink(&name.display().to_string(), &real.display().to_string())
                .io("archiving", &name)?;
            self.added.insert(name);
        }
        Ok(())
    }

    /// Copy the executable `source` (inside the root) to `dest`, with every shared
    /// library it loads.
    pub async fn binary(&mut self, source: &str, dest: &str) -> Result<(), SandboxError> {
        for lib in library_closure(&self.root, source).await? {
            self.library(&lib)?;
        }
        self.copy(source, dest)
    }

    /// `/etc/passwd`, `/etc/group` (root, nobody and `extra_users` as system users) and
    /// an `/etc/nsswitch.conf` that resolves from files, then DNS.
    pub fn base_files(&mut self, extra_users: &[(&str, u32)]) -> Result<(), SandboxError> {
        let mut passwd = String::from("root:x:0:0:root:/root:/sbin/nologin\n");
        let mut group = String::from("root:x:0:\n");
        for (user, id) in extra_users {
            passwd.push_str(&format!(
                "{user}:x:{id}:{id}:{user}:/nonexistent:/sbin/nologin\n"
            ));
            group.push_str(&format!("{user}:x:{id}:\n"));
        }
        passwd.push_str("nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n");
        group.push_str("nogroup:x:65534:\n");
        self.file("/etc/passwd", 0o644, passwd.as_bytes())?;
        self.file("/etc/group", 0o644, group.as_bytes())?;
        self.file(
            "/etc/nsswitch.conf",
            0o644,
            b"passwd: files\ngroup: files\nhosts: files dns\n",
        )?;
        let bundle = "/etc/ssl/certs/ca-certificates.crt";
        if self.root.join(&bundle[1..]).exists() {
            self.copy(bundle, bundle)?;
        }
        Ok(())
    }

    /// A symbolic link at `path` pointing at `target` (as written, e.g. a sibling's name).
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), SandboxError> {
        let path = self.canonical_dest(path);
        self.parents(&path)?;
        self.tar
            .symlink(&path.display().to_string(), target)
            .io("archiving", &path)?;
        self.added.insert(path);
        Ok(())
    }

    /// Import the image into the engine as `reference` with Dockerfile-style `changes`.
    pub async fn import(
        self,
        docker: &bollard::Docker,
        reference: &str,
        changes: &[String],
    ) -> Result<String, SandboxError> {
        let bytes = self
            .tar
            .finish()
            .io("finishing the archive of", reference)?;
        let body = futures_util::stream::once(async move { Ok(bytes::Bytes::from(bytes)) });
        rootfs::import_stream(docker, body, reference, changes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn ldd_output_is_parsed() {
        let out = "\tlinux-vdso.so.1 (0x00007ffc8b5e6000)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1e9c000000)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f1e9c3c5000)\n";
        assert_eq!(
            parse_ldd(out).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert_eq!(
            parse_ldd("\tnot a dynamic executable\n").unwrap(),
            Vec::<PathBuf>::new()
        );
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.contains("libfoo.so.1"));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib64")).unwrap();
        std::fs::write(root.join("usr/lib/x86_64-linux-gnu/ld.so"), b"x").unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("usr/lib64", root.join("lib64")).unwrap();
        // Absolute target: must resolve inside the root, not on the host.
        symlink("/lib/x86_64-linux-gnu/ld.so", root.join("usr/lib64/ld.so")).unwrap();
        symlink(
            "../lib/x86_64-linux-gnu/ld.so",
            root.join("usr/lib64/rel.so"),
        )
        .unwrap();
        let want = PathBuf::from("/usr/lib/x86_64-linux-gnu/ld.so");
        assert_eq!(
            resolve_in_root(root, Path::new("/lib64/ld.so")).unwrap(),
            want
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/lib64/rel.so")).unwrap(),
            want
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/lib/x86_64-linux-gnu")).unwrap(),
            PathBuf::from("/usr/lib/x86_64-linux-gnu")
        );
    }

    #[tokio::test]
    async fn a_host_binary_image_holds_the_binary_its_libraries_and_their_links() {
        let mut image = MinimalImage::new(Path::new("/")).unwrap();
        image.binary("/bin/ls", "/usr/local/bin/ls").await.unwrap();
        let names: Vec<String> = image
            .added
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            names.contains(&"/usr/local/bin/ls".to_string()),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.contains("libc.so.6")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("ld-linux")), "{names:?}");
        if std::fs::read_link("/bin").is_ok() {
            let placed = image.canonical_dest("/bin/x");
            assert_eq!(
                placed,
                resolve_in_root(Path::new("/"), Path::new("/bin"))
                    .unwrap()
                    .join("x")
            );
        }
    }
}
