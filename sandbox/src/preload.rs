//! Preloading: every image the sandbox config references is put into every node's own
//! dockerd before `up` returns, so that a deploy finds it without any registry. The images
//! are exported once from the control host's engine into one archive in the sandbox cache
//! (reused while the images stay the same), uploaded into each node container and loaded
//! there with `docker load`, a few nodes at a time.
//!
//! This is the test bed's own set-up, done through the control host's Docker API; the
//! product's deploy path reaches nodes over SSH only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::UploadToContainerOptions;
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::{DockerContext, IoContext, SandboxError, last_lines};
use super::nodes::NodeInfo;
use super::{engine, rootfs};

/// How many nodes receive images at once.
pub const PRELOAD_PARALLELISM: usize = 4;

/// How long one node may take to receive and load the archive.
pub const PRELOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// How long exporting the images from the control host's engine may take.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// Folder inside a node the archive is uploaded to (the node's own disk, not its dockerd's
/// in-memory storage) and the archive's name there; removed after `docker load`.
const NODE_DIR: &str = "/tmp";
const NODE_ARCHIVE: &str = "k8s-manage-sandbox-images.tar";

/// Bump when the archive format changes.
const FORMAT_VERSION: &str = "1";

/// Archives not used for this long are removed from the cache when a new one is made.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// An exported image archive (`docker save` format) in the sandbox cache.
#[derive(Debug, Clone)]
pub struct ImageArchive {
    pub path: PathBuf,
    pub bytes: u64,
    /// True when an existing archive of the same images was reused.
    pub reused: bool,
}

/// What [`preload`] did.
#[derive(Debug, Clone)]
pub struct PreloadReport {
    pub archive: ImageArchive,
    /// Exporting (or finding) the archive.
    pub export: Duration,
    /// Uploading and loading it into every node.
    pub load: Duration,
}

/// The archive name for these images: a hash of every reference and the image id it has now.
fn archive_key(images: &[(String, String)]) -> String {
    let mut sorted = images.to_vec();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(FORMAT_VERSION.as_bytes());
    for (reference, id) in &sorted {
        h.update([0]);
        h.update(reference.as_bytes());
        h.update([0]);
        h.update(id.as_bytes());
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Export `references` from the control host's engine into `cache/images-<hash>.tar`, or
/// reuse that file when it exists (same references, same image ids).
pub async fn export_archive(
    docker: &Docker,
    references: &[String],
    cache: &Path,
    progress: &dyn Fn(&str),
) -> Result<ImageArchive, SandboxError> {
    let mut ids = Vec::new();
    for reference in references {
        let image = match docker.inspect_image(reference).await {
            Ok(image) => image,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(SandboxError::Image {
                    image: reference.clone(),
                    reason: "is not in the control host's Docker engine, so it cannot be \
                             preloaded into the nodes"
                        .into(),
                });
            }
            Err(e) => return Err(e).docker(format!("inspecting image {reference}")),
        };
        ids.push((reference.clone(), image.id.unwrap_or_default()));
    }
    let key = archive_key(&ids);
    let path = cache.join(format!("images-{key}.tar"));
    let _lock = rootfs::lock(&cache.join(format!("images-{key}.lock"))).await?;
    if let Ok(meta) = std::fs::metadata(&path) {
        // Mark it as used, so that pruning by others leaves it alone.
        if let Ok(file) = std::fs::File::options().append(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        return Ok(ImageArchive {
            path,
            bytes: meta.len(),
            reused: true,
        });
    }
    progress(&format!(
        "exporting {} images into {}",
        references.len(),
        path.display()
    ));
    let partial = path.with_extension("tar.partial");
    let written = tokio::time::timeout(EXPORT_TIMEOUT, write_export(docker, references, &partial))
        .await
        .unwrap_or_else(|_| {
            Err(SandboxError::Image {
                image: references.join(", "),
                reason: format!(
                    "exporting them took longer than {}s",
                    EXPORT_TIMEOUT.as_secs()
                ),
            })
        });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &path).io("renaming the finished archive to", &path)?;
    prune_stale(cache, &path);
    Ok(ImageArchive {
        path,
        bytes,
        reused: false,
    })
}

async fn write_export(
    docker: &Docker,
    references: &[String],
    dest: &Path,
) -> Result<u64, SandboxError> {
    let names: Vec<&str> = references.iter().map(String::as_str).collect();
    // Bounded by the caller ([`EXPORT_TIMEOUT`]), not by the client's shorter request
    // timeout, which a busy machine's export outlasts.
    let docker = docker.clone().with_timeout(EXPORT_TIMEOUT);
    let mut stream = docker.export_images(&names);
    let mut file = tokio::fs::File::create(dest).await.io("creating", dest)?;
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.docker(format!("exporting images {}", references.join(", ")))?;
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await.io("writing", dest)?;
    }
    file.flush().await.io("writing", dest)?;
    file.sync_all().await.io("writing", dest)?;
    Ok(bytes)
}

/// Remove other image archives of the cache that nobody used for [`STALE_AFTER`].
fn prune_stale(cache: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path == keep || !name.starts_with("images-") || !name.ends_with(".tar") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Load `references` (images of the control host's Docker) into every node of the running
/// sandbox `name`, as [`preload`] does when the sandbox comes up. Returns how many nodes.
pub async fn load_into_sandbox(
    name: &str,
    references: &[String],
    progress: &dyn Fn(&str),
) -> Result<usize, SandboxError> {
    let nodes = sandbox_nodes(name).await?;
    let docker = engine::connect().await?;
    preload(&docker, &nodes, references, progress).await?;
    Ok(nodes.len())
}

/// The nodes of the running sandbox `name`, in address order; an error when it has none.
pub(super) async fn sandbox_nodes(name: &str) -> Result<Vec<NodeInfo>, SandboxError> {
    let nodes: Vec<NodeInfo> = super::status::status(name)
        .await?
        .into_iter()
        .filter_map(|s| {
            Some(NodeInfo {
                hostname: s.name,
                container: s.container,
                address: s.address?,
                role: s.role?,
                etcd_id: None,
            })
        })
        .collect();
    if nodes.is_empty() {
        return Err(SandboxError::InvalidOptions(format!(
            "no sandbox named {name} runs here (see k8s-manage sandbox status --name {name})"
        )));
    }
    Ok(nodes)
}

/// Export `references` (once) and load them into every node's dockerd, at most
/// [`PRELOAD_PARALLELISM`] nodes at a time, each within [`PRELOAD_TIMEOUT`]. Afterwards
/// every node's `docker image ls` lists every reference; the error names the first node
/// that failed.
pub async fn preload(
    docker: &Docker,
    nodes: &[NodeInfo],
    references: &[String],
    progress: &dyn Fn(&str),
) -> Result<PreloadReport, SandboxError> {
    let start = Instant::now();
    let cache = rootfs::default_cache_dir();
    std::fs::create_dir_all(&cache).io("creating", &cache)?;
    let archive = export_archive(docker, references, &cache, progress).await?;
    let export = start.elapsed();
    progress(&format!(
        "loading {} images ({} MiB) into {} nodes, {} at a time",
        references.len(),
        archive.bytes / (1024 * 1024),
        nodes.len(),
        PRELOAD_PARALLELISM
    ));
    let load_start = Instant::now();
    let results: Vec<(usize, Result<(), String>)> =
        futures_util::stream::iter(nodes.iter().enumerate())
            .map(|(i, node)| {
                let archive = &archive;
                async move {
                    let result = tokio::time::timeout(
                        PRELOAD_TIMEOUT,
                        load_into_node(docker, node, archive, references),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "not done after {}s (upload, `docker load` and check)",
                            PRELOAD_TIMEOUT.as_secs()
                        ))
                    });
                    (i, result)
                }
            })
            .buffer_unordered(PRELOAD_PARALLELISM)
            .collect()
            .await;
    let mut failures: Vec<(usize, String)> = results
        .into_iter()
        .filter_map(|(i, r)| r.err().map(|e| (i, e)))
        .collect();
    failures.sort();
    if let Some((i, reason)) = failures.first() {
        let node = &nodes[*i];
        let others = failures.len() - 1;
        let reason = if others > 0 {
            format!("{reason} (and {others} other nodes failed too)")
        } else {
            reason.clone()
        };
        return Err(SandboxError::Preload {
            node: node.hostname.clone(),
            container: node.container.clone(),
            reason,
        });
    }
    Ok(PreloadReport {
        archive,
        export,
        load: load_start.elapsed(),
    })
}

/// Upload the archive into one node, `docker load` it there, remove it, and check that
/// the node's engine lists every reference.
async fn load_into_node(
    docker: &Docker,
    node: &NodeInfo,
    archive: &ImageArchive,
    references: &[String],
) -> Result<(), String> {
    let file = tokio::fs::File::open(&archive.path)
        .await
        .map_err(|e| format!("opening {}: {e}", archive.path.display()))?;
    // The engine client's own request timeout (120 s) is shorter than an upload of the
    // component images takes on a busy machine; the caller bounds the whole load instead.
    docker
        .clone()
        .with_timeout(PRELOAD_TIMEOUT)
        .upload_to_container(
            &node.container,
            Some(UploadToContainerOptions {
                path: NODE_DIR.into(),
                ..Default::default()
            }),
            bollard::body_try_stream(single_file_tar(NODE_ARCHIVE, archive.bytes, file)),
        )
        .await
        .map_err(|e| format!("uploading {}: {e}", archive.path.display()))?;

    let target = format!("{NODE_DIR}/{NODE_ARCHIVE}");
    let load = format!("docker load -i {target}; status=$?; rm -f {target}; exit $status");
    let (code, output) = exec(docker, &node.container, &["sh", "-c", &load]).await?;
    if code != 0 {
        return Err(format!(
            "`docker load` exited with {code}: {}",
            last_lines(output.trim(), 10)
        ));
    }

    let (code, listed) = exec(
        docker,
        &node.container,
        &[
            "docker",
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    )
    .await?;
    if code != 0 {
        return Err(format!(
            "`docker image ls` exited with {code}: {}",
            listed.trim()
        ));
    }
    let missing = missing_images(&listed, references);
    if !missing.is_empty() {
        return Err(format!(
            "after `docker load` the node's engine lacks {}",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// The references not among the `repository:tag` lines of `docker image ls`.
pub fn missing_images(listed: &str, references: &[String]) -> Vec<String> {
    let have: std::collections::HashSet<&str> = listed.lines().map(str::trim).collect();
    references
        .iter()
        .filter(|r| !have.contains(docker_short_name(r)))
        .cloned()
        .collect()
}

/// How the engine lists a Docker Hub reference: without `docker.io/` (and `library/`),
/// e.g. `docker.io/rancher/local-path-provisioner:v0.0.30` as `rancher/...`.
pub fn docker_short_name(reference: &str) -> &str {
    let rest = reference.strip_prefix("docker.io/").unwrap_or(reference);
    rest.strip_prefix("library/").unwrap_or(rest)
}

/// A tar stream holding one regular file `name` of `size` bytes read from `file`: header,
/// content, padding to the block size and the two zero blocks that end an archive.
fn single_file_tar(
    name: &str,
    size: u64,
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    let named = header.set_path(name);
    header.set_cksum();
    let head = futures_util::stream::once(async move {
        named.map(|()| Bytes::copy_from_slice(header.as_bytes()))
    });
    let body = futures_util::stream::unfold((file, 0u64), move |(mut file, sent)| async move {
        if sent >= size {
            return None;
        }
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the archive ended after {sent} of {size} bytes"),
                )),
                (file, size),
            )),
            Ok(n) => {
                let n = n.min((size - sent) as usize);
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (file, sent + n as u64)))
            }
            Err(e) => Some((Err(e), (file, size))),
        }
    });
    let padding = (512 - size % 512) % 512;
    let tail =
        futures_util::stream::once(
            async move { Ok(Bytes::from(vec![0u8; padding as usize + 1024])) },
        );
    head.chain(body).chain(tail)
}

/// Run a command in a node container; its exit code and combined output.
pub(super) async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
) -> Result<(i64, String), String> {
    let shown = cmd.join(" ");
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|c| c.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("starting `{shown}`: {e}"))?;
    let mut output = String::new();
    match docker
        .start_exec(&created.id, None)
        .await
        .map_err(|e| format!("starting `{shown}`: {e}"))?
    {
        StartExecResults::Attached {
            output: mut stream, ..
        } => {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("reading the output of `{shown}`: {e}"))?;
                output.push_str(&chunk.to_string());
            }
        }
        StartExecResults::Detached => {}
    }
    let code = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| format!("exit status of `{shown}`: {e}"))?
        .exit_code
        .unwrap_or(-1);
    Ok((code, output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_references_and_ids_but_not_their_order() {
        let a = vec![
            ("r/a:1".to_string(), "sha256:1".to_string()),
            ("r/b:1".to_string(), "sha256:2".to_string()),
        ];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(archive_key(&a), archive_key(&b));
        let mut c = a.clone();
        c[1].1 = "sha256:3".into();
        assert_ne!(archive_key(&a), archive_key(&c));
        assert_eq!(archive_key(&a).len(), 16);
    }

    #[test]
    fn missing_images_are_named() {
        let listed = "k8s-manage-sandbox/etcd:3.4.23\nk8s-manage-sandbox/haproxy:2.6\n";
        let refs = [
            "k8s-manage-sandbox/etcd:3.4.23".to_string(),
            "k8s-manage-sandbox/kube-proxy:v1.36.1".to_string(),
        ];
        assert_eq!(
            missing_images(listed, &refs),
            ["k8s-manage-sandbox/kube-proxy:v1.36.1"]
        );
        let hub = [
            "docker.io/rancher/local-path-provisioner:v0.0.30".to_string(),
            "docker.io/library/busybox:1.37.0".to_string(),
        ];
        assert!(
            missing_images(
                "rancher/local-path-provisioner:v0.0.30\nbusybox:1.37.0\n",
                &hub
            )
            .is_empty()
        );
        assert_eq!(missing_images("busybox:1.37.0\n", &hub), [hub[0].clone()]);
    }

    #[tokio::test]
    async fn the_single_file_tar_is_a_valid_archive_of_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let chunks: Vec<Bytes> = single_file_tar("x.tar", data.len() as u64, file)
            .map(|c| c.unwrap())
            .collect()
            .await;
        let bytes: Vec<u8> = chunks.concat();
        assert_eq!(bytes.len() % 512, 0);
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("x.tar"));
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        assert_eq!(content, data);
        drop(entry);
        assert!(entries.next().is_none());
    }
}
