//! Checks that a node answers: sshd's banner on TCP port 22, and commands run over SSH
//! (ssh2, key auth as root, host key checked when known) such as `docker version`.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Read sshd's identification line (`SSH-2.0-...`) from `address:22`.
pub async fn sshd_banner(address: Ipv4Addr, timeout: Duration) -> Result<String, String> {
    ssh_banner(SocketAddr::from((address, 22)), timeout).await
}

/// Read an SSH identification line from any TCP address.
pub async fn ssh_banner(address: SocketAddr, timeout: Duration) -> Result<String, String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("TCP connect to {address}: {e}"))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !buf.contains(&b'\n') && buf.len() < 1024 {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the SSH banner: {e}"))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&buf)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        if line.starts_with("SSH-") {
            Ok(line)
        } else {
            Err(format!(
                "{address} answered without an SSH banner: {line:?}"
            ))
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no SSH banner from {address} within {timeout:?}")))
}

/// What a command run over SSH returned.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// How to log in to a node.
#[derive(Debug, Clone)]
pub struct Login {
    pub address: Ipv4Addr,
    pub user: String,
    pub keyfile: PathBuf,
    /// The node's host public key (`ssh-ed25519 AAAA...`); the connection is refused when
    /// the node presents another one. `None` accepts any host key.
    pub host_key: Option<String>,
}

/// Run `command` on the node over SSH (blocking work on a blocking thread).
pub async fn ssh_exec(
    login: &Login,
    command: &str,
    timeout: Duration,
) -> Result<ExecOutput, String> {
    let login = login.clone();
    let command = command.to_string();
    tokio::task::spawn_blocking(move || ssh_exec_blocking(&login, &command, timeout))
        .await
        .map_err(|e| format!("SSH task failed: {e}"))?
}

fn ssh_exec_blocking(
    login: &Login,
    command: &str,
    timeout: Duration,
) -> Result<ExecOutput, String> {
    let address = login.address;
    let tcp = TcpStream::connect_timeout(&SocketAddr::from((address, 22)), timeout)
        .map_err(|e| format!("TCP connect to {address}:22: {e}"))?;
    let mut session = ssh2::Session::new().map_err(|e| format!("SSH session: {e}"))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(timeout.as_millis() as u32);
    session
        .handshake()
        .map_err(|e| format!("SSH handshake with {address}: {e}"))?;
    if let Some(expected) = &login.host_key {
        check_host_key(&session, expected).map_err(|e| format!("{address}: {e}"))?;
    }
    session
        .userauth_pubkey_file(&login.user, None, &login.keyfile, None)
        .map_err(|e| {
            format!(
                "SSH key login as {} with {} to {address}: {e}",
                login.user,
                login.keyfile.display()
            )
        })?;
    let mut channel = session
        .channel_session()
        .map_err(|e| format!("SSH channel to {address}: {e}"))?;
    channel
        .exec(command)
        .map_err(|e| format!("SSH exec {command:?} on {address}: {e}"))?;
    let mut stdout = String::new();
    channel
        .read_to_string(&mut stdout)
        .map_err(|e| format!("reading the output of {command:?} on {address}: {e}"))?;
    let mut stderr = String::new();
    channel
        .stderr()
        .read_to_string(&mut stderr)
        .map_err(|e| format!("reading the errors of {command:?} on {address}: {e}"))?;
    channel
        .wait_close()
        .map_err(|e| format!("closing the SSH channel to {address}: {e}"))?;
    let exit_status = channel
        .exit_status()
        .map_err(|e| format!("exit status of {command:?} on {address}: {e}"))?;
    Ok(ExecOutput {
        exit_status,
        stdout,
        stderr,
    })
}

/// Compare the key the server presented with the expected public key line.
pub fn check_host_key(session: &ssh2::Session, expected: &str) -> Result<(), String> {
    let expected = ssh_key::PublicKey::from_openssh(expected.trim())
        .map_err(|e| format!("expected host key unreadable: {e}"))?
        .to_bytes()
        .map_err(|e| format!("expected host key unreadable: {e}"))?;
    let (presented, _) = session
        .host_key()
        .ok_or_else(|| "the server presented no host key".to_string())?;
    if presented == expected.as_slice() {
        Ok(())
    } else {
        Err("the host key differs from the one the sandbox installed".into())
    }
}

/// Whether the node's sshd and dockerd answer: the banner, then `docker version` over SSH
/// with exit status 0. The error says which of them failed and how.
pub async fn node_answers(login: &Login) -> Result<(), String> {
    sshd_banner(login.address, PROBE_TIMEOUT).await?;
    let out = ssh_exec(login, "docker version", PROBE_TIMEOUT).await?;
    if out.exit_status == 0 {
        Ok(())
    } else {
        Err(format!(
            "`docker version` exited with {}: {}",
            out.exit_status,
            out.stderr.trim()
        ))
    }
}

/// Probe until the node answers or `timeout` has passed; the last problem on time-out.
pub async fn wait_until_answers(login: &Login, timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let problem = match node_answers(login).await {
            Ok(()) => return Ok(start.elapsed()),
            Err(problem) => problem,
        };
        if start.elapsed() >= timeout {
            return Err(problem);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Read a known_hosts file written by the sandbox: the key line for `address`.
pub fn known_host_key(known_hosts: &Path, address: Ipv4Addr) -> Option<String> {
    let text = std::fs::read_to_string(known_hosts).ok()?;
    let address = address.to_string();
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        let hosts = parts.next()?;
        if hosts.split(',').any(|h| h == address) {
            let kind = parts.next()?;
            let data = parts.next()?;
            Some(format!("{kind} {data}"))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve_once(reply: &'static [u8]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut sock, reply)
                .await
                .unwrap();
        });
        address
    }

    #[tokio::test]
    async fn an_ssh_banner_is_recognised_and_anything_else_is_not() {
        let ssh = serve_once(b"SSH-2.0-Test_1.0\r\n").await;
        let banner = ssh_banner(ssh, Duration::from_secs(2)).await.unwrap();
        assert_eq!(banner, "SSH-2.0-Test_1.0");
        let http = serve_once(b"HTTP/1.1 400 Bad Request\r\n").await;
        let err = ssh_banner(http, Duration::from_secs(2)).await.unwrap_err();
        assert!(err.contains("without an SSH banner"), "{err}");
    }

    #[test]
    fn known_hosts_are_looked_up_by_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(
            &path,
            "172.30.0.11 ssh-ed25519 AAAAone\n172.30.0.12 ssh-ed25519 AAAAtwo\n",
        )
        .unwrap();
        let key = known_host_key(&path, Ipv4Addr::new(172, 30, 0, 12));
        assert_eq!(key.as_deref(), Some("ssh-ed25519 AAAAtwo"));
        assert_eq!(known_host_key(&path, Ipv4Addr::new(172, 30, 0, 13)), None);
    }
}
