//! Writing images of the local engine as a `docker save` bundle (what `deploy --images`
//! streams to the nodes), through a `.partial` file renamed when complete.

use bollard::Docker;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Save `references` into `dest`; the bundle's size in bytes. On failure `dest` is left
/// as it was and the partial file removed.
pub async fn save(docker: &Docker, references: &[&str], dest: &Path) -> Result<u64, String> {
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = write(docker, references, &partial).await;
    match result {
        Ok(bytes) => {
            std::fs::rename(&partial, dest).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                format!(
                    "cannot rename {} to {}: {e}",
                    partial.display(),
                    dest.display()
                )
            })?;
            Ok(bytes)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn write(docker: &Docker, references: &[&str], path: &Path) -> Result<u64, String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut stream = docker.export_images(references);
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| format!("the engine could not export {}: {e}", references.join(", ")))?;
        bytes += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.sync_all()
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if bytes == 0 {
        return Err(format!(
            "the engine exported nothing for {}",
            references.join(", ")
        ));
    }
    Ok(bytes)
}
