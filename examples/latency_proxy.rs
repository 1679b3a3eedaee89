//! Bench helper (started by the benchmarks, not by hand): adds a round-trip delay to every
//! TCP connection the control host makes to a sandbox's nodes, because this machine's
//! kernel has no `tc netem` (`CONFIG_NET_SCH_NETEM` is not set and there are no modules).
//!
//! `bench_support::latency` installs an iptables `nat OUTPUT` rule that redirects the
//! control host's TCP connections to the sandbox subnet (SSH, the Docker API tunnels inside
//! it, and the Kubernetes API over TLS) to this process's port. This process finds each
//! connection's real destination (`SO_ORIGINAL_DST`), waits one round trip before it
//! connects there (the TCP handshake's), and then forwards the bytes both ways, each chunk
//! held back half the round trip: a request answered at once comes back one round trip
//! later, as on a long link. Its own connections carry the mark [`MARK`], which the
//! iptables rule skips. It runs in its own process so that its CPU is not counted as the
//! measured tool's.
//!
//! Run (by `bench_support::latency::Latency::start`): `latency_proxy PORT RTT_MS`; it prints
//! `ready` on stdout once listening and runs until killed.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The firewall mark of the proxy's own connections (skipped by the redirect rule).
const MARK: u32 = 0x18;

/// The destination a REDIRECTed connection was meant for.
fn original_dst(s: &TcpStream) -> std::io::Result<SocketAddr> {
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a valid socket fd and an out-buffer of the size given.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
        u16::from_be(addr.sin_port),
    )))
}

async fn connect_marked(to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    let mark = MARK;
    // SAFETY: a valid socket fd and a u32 option value.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let s = sock.connect(to).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Copy `from` to `to`, every chunk delayed by `delay`; the write side is shut down (after
/// the delay) when `from` ends.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send((Instant::now() + delay, Vec::new()));
                    return;
                }
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if chunk.is_empty() || to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

async fn serve(client: TcpStream, rtt: Duration) {
    let Ok(dst) = original_dst(&client) else {
        return;
    };
    // the TCP handshake's round trip
    tokio::time::sleep(rtt).await;
    let Ok(upstream) = connect_marked(dst).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let half = rtt / 2;
    tokio::join!(delayed_copy(cr, uw, half), delayed_copy(ur, cw, half));
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(rtt)) = (
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
        args.get(2).and_then(|r| r.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: latency_proxy PORT RTT_MS");
        std::process::exit(2);
    };
    let rtt = Duration::from_millis(rtt);
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("latency_proxy: listening on port {port}: {e}");
            std::process::exit(1);
        }
    };
    println!("ready");
    loop {
        if let Ok((client, _)) = listener.accept().await {
            tokio::spawn(serve(client, rtt));
        }
    }
}
