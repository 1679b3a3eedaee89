//! The cri-dockerd stand-in: creates the unix socket named by `--container-runtime-endpoint`
//! and accepts connections on it (it speaks no CRI; connections are held, then closed).

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

use crate::flags::Flags;
use crate::log::log;

/// The socket path of a `unix://` endpoint (a bare path is accepted too).
pub fn socket_path(endpoint: &str) -> Result<&str, String> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.is_empty() || !path.starts_with('/') || path.contains("://") {
        return Err(format!(
            "--container-runtime-endpoint {endpoint:?} is not unix:///absolute/path"
        ));
    }
    Ok(path)
}

pub async fn start(flags: &Flags) -> Result<(), Vec<String>> {
    let one = |e: String| vec![e];
    let endpoint = flags.get_or(
        "container-runtime-endpoint",
        "unix:///var/run/cri-dockerd.sock",
    );
    let path = socket_path(endpoint).map_err(one)?.to_string();
    match std::fs::remove_file(&path) {
        Ok(()) => log!("removed stale socket {path}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(one(format!("{path}: cannot remove old socket: {e}"))),
    }
    let listener =
        UnixListener::bind(&path).map_err(|e| one(format!("{path}: cannot listen: {e}")))?;
    log!("listening on unix://{path}");
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((mut stream, _)) => {
                    log!("connection on unix://{path}");
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        let idle = Duration::from_secs(30);
                        while let Ok(Ok(n)) =
                            tokio::time::timeout(idle, stream.read(&mut buf)).await
                        {
                            if n == 0 {
                                break;
                            }
                        }
                    });
                }
                Err(e) => {
                    log!("accept on unix://{path} failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}
