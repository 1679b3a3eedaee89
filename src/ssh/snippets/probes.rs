//! Read-only questions to a node: the preflight facts, whether the login user can use the
//! Docker socket, the NVIDIA driver and runtime, and TLS health endpoints on its loopback.

use crate::ssh::shell::quote;

/// Preflight facts, one `key=value` a line: swap devices, the clock, free space under
/// /var/lib, bridge netfilter, overlayfs, the cgroup file system, nameservers and the TCP
/// ports listened on (`listen=<hex address:port>`).
pub const NODE_FACTS: &str = "echo swap=$(awk 'NR>1' /proc/swaps | wc -l); echo epoch=$(date +%s); \
echo free=$(df -Pk /var/lib | awk 'NR==2{print $4}'); \
echo bridge_nf=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null); \
grep -qw overlay /proc/filesystems && echo overlayfs=1; \
echo cgroupfs=$(stat -fc %T /sys/fs/cgroup); \
awk '$1==\"nameserver\"{print \"nameserver=\"$2}' /etc/resolv.conf 2>/dev/null; \
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4==\"0A\"{print \"listen=\"$2}'";

/// Whether the login user can use the Docker socket `socket`: prints `absent` (no socket
/// there), `denied` (not readable and writable), `stopped` (no dockerd process) or
/// `usable`.
pub fn docker_socket(socket: &str) -> String {
    format!(
        "s={s}; if [ ! -S \"$s\" ]; then echo absent; \
         elif ! {{ [ -r \"$s\" ] && [ -w \"$s\" ]; }}; then echo denied; \
         elif ! grep -qsx dockerd /proc/[0-9]*/comm; then echo stopped; \
         else echo usable; fi",
        s = quote(socket)
    )
}

/// The query the GPU probe runs (`csv`: a header of field names with units, one row per
/// GPU).
pub const GPU_QUERY: &str = "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv";
/// [`gpu`]'s line with nvidia-smi's exit status.
pub const SMI_EXIT: &str = "k8s-manage-smi-exit=";
/// [`gpu`]'s line for each CDI spec naming NVIDIA GPUs.
pub const CDI: &str = "k8s-manage-cdi=";
/// [`gpu`]'s line saying whether the runtime binary is there (`yes`/`no`).
pub const RUNTIME_BINARY: &str = "k8s-manage-runtime-binary=";

/// The GPU probe: [`GPU_QUERY`]'s answer and a [`SMI_EXIT`] line (127: no nvidia-smi), a
/// [`CDI`] line per CDI spec for NVIDIA GPUs, and with `runtime_binary` (the path of
/// Docker's `nvidia` runtime) a [`RUNTIME_BINARY`] line. Always exits 0.
pub fn gpu(runtime_binary: Option<&str>) -> String {
    let mut s = format!(
        "if command -v nvidia-smi >/dev/null 2>&1; then out=$({GPU_QUERY} 2>&1); rc=$?; \
         printf '%s\\n' \"$out\"; echo \"{SMI_EXIT}$rc\"; else echo \"{SMI_EXIT}127\"; fi\n\
         for f in /etc/cdi/*.yaml /etc/cdi/*.json /var/run/cdi/*.yaml /var/run/cdi/*.json; do \
         [ -f \"$f\" ] && grep -qs 'nvidia.com/gpu' \"$f\" && echo \"{CDI}$f\"; done\n"
    );
    if let Some(bin) = runtime_binary {
        s.push_str(&format!(
            "if command -v {q} >/dev/null 2>&1; then echo {RUNTIME_BINARY}yes; else echo {RUNTIME_BINARY}no; fi\n",
            q = quote(bin)
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// A client certificate for [`loopback_checks`]: the file holding certificate and key, and
/// the CA that signed the server's certificate.
#[derive(Debug, Clone, Copy)]
pub struct TlsClient<'a> {
    pub cert_and_key: &'a str,
    pub ca: &'a str,
}

/// Prints [`NO_OPENSSL`] when openssl is missing, else for each check `(index, port,
/// path)` a line `<index> <HTTP status line>` of `GET path` on `127.0.0.1:port` over TLS,
/// verifying the server against `client.ca`, presenting `client`'s certificate.
pub fn loopback_checks(checks: &[(usize, u16, &str)], client: TlsClient) -> String {
    let mut s = format!("command -v openssl >/dev/null || {{ echo {NO_OPENSSL}; exit 0; }}\n");
    for (i, port, path) in checks {
        s.push_str(&format!(
            "r=$({}); echo \"{i} $r\"\n",
            tls_get(*port, path, client)
        ));
    }
    s
}

/// [`loopback_checks`]' answer when the node has no openssl.
pub const NO_OPENSSL: &str = "NO-OPENSSL";

/// `GET path` over TLS on the node's loopback; prints the HTTP status line.
fn tls_get(port: u16, path: &str, client: TlsClient) -> String {
    format!(
        "printf 'GET %s HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' {path} | \
         timeout 10 openssl s_client -quiet -connect 127.0.0.1:{port} -servername localhost \
         -cert {pem} -key {pem} -CAfile {ca} -verify_return_error 2>/dev/null | head -1",
        path = quote(path),
        pem = quote(client.cert_and_key),
        ca = quote(client.ca),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_sh::{HOSTILE, assert_not_pwned, fake_tool, parses, run_in};
    use super::*;

    #[test]
    fn the_node_facts_run_here_and_print_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_in(dir.path(), NODE_FACTS);
        let text = String::from_utf8_lossy(&out.stdout);
        for key in ["swap=", "epoch=", "free=", "bridge_nf=", "cgroupfs="] {
            assert!(text.lines().any(|l| l.starts_with(key)), "{key}: {text}");
        }
    }

    #[test]
    fn the_docker_socket_probe_tells_a_missing_socket_from_one_that_is_there() {
        assert!(docker_socket("/var/run/docker.sock").starts_with("s=/var/run/docker.sock; "));
        let dir = tempfile::tempdir().unwrap();
        let answer = |socket: &str| {
            let out = run_in(dir.path(), &docker_socket(socket));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let d = dir.path().display();
        assert_eq!(answer(&format!("{d}/none.sock")), "absent");
        std::fs::write(dir.path().join("file.sock"), "").unwrap();
        assert_eq!(answer(&format!("{d}/file.sock")), "absent", "not a socket");
        let sock = format!("{d}/real.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(["usable", "stopped"].contains(&answer(&sock).as_str()));
        for name in HOSTILE {
            let sock = format!("{d}/{name}");
            assert_eq!(answer(&sock), "absent", "{name}");
            let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
            assert!(
                ["usable", "stopped"].contains(&answer(&sock).as_str()),
                "{name}"
            );
            assert_not_pwned(dir.path(), &docker_socket(&sock));
        }
    }

    #[test]
    fn the_gpu_probe_runs_in_sh_and_quotes_the_runtime_path() {
        let s = gpu(Some("/opt/it's/nvidia-container-runtime"));
        assert!(
            s.contains("'/opt/it'\\''s/nvidia-container-runtime'"),
            "{s}"
        );
        assert!(s.contains(GPU_QUERY) && s.ends_with("exit 0\n"));
        assert!(!gpu(None).contains(RUNTIME_BINARY));
        let dir = tempfile::tempdir().unwrap();
        for bin in ["$(touch pwned)", "`touch pwned`", "a;touch pwned"] {
            let s = gpu(Some(bin));
            let out = run_in(dir.path(), &s);
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&format!("{RUNTIME_BINARY}no")), "{text}");
            assert_not_pwned(dir.path(), &s);
        }
        // a runtime that is there
        fake_tool(dir.path(), "my runtime", "true");
        let out = run_in(dir.path(), &gpu(Some("my runtime")));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("{RUNTIME_BINARY}yes")), "{text}");
    }

    const CLIENT: TlsClient = TlsClient {
        cert_and_key: "/etc/kubernetes/pki/lb-healthcheck.pem",
        ca: "/etc/kubernetes/pki/ca.crt",
    };

    #[test]
    fn one_script_runs_every_loopback_check_with_the_client_certificate() {
        let script = loopback_checks(&[(0, 6443, "/readyz"), (2, 10259, "/healthz")], CLIENT);
        assert_eq!(script.matches("openssl s_client").count(), 2);
        assert!(script.contains("127.0.0.1:10259") && script.contains("echo \"2 $r\""));
        assert!(script.contains(
            "-cert /etc/kubernetes/pki/lb-healthcheck.pem -key /etc/kubernetes/pki/lb-healthcheck.pem -CAfile /etc/kubernetes/pki/ca.crt "
        ));
        assert!(parses(&script), "{script}");
        // without openssl: the marker only
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", dir.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{NO_OPENSSL}\n")
        );
    }

    /// With an openssl that prints the request's first line and its arguments: hostile
    /// request paths and certificate paths arrive as they are, each one argument.
    #[test]
    fn hostile_paths_reach_openssl_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        fake_tool(
            dir.path(),
            "openssl",
            "read -r line; printf '%s|' \"$line\" \"$@\"; echo",
        );
        for name in HOSTILE.iter().chain(&["%s %d"]) {
            let (pem, ca) = (format!("/pki/{name}.pem"), format!("/pki/{name}.crt"));
            let client = TlsClient {
                cert_and_key: &pem,
                ca: &ca,
            };
            let script = loopback_checks(&[(3, 6443, name)], client);
            assert!(parses(&script), "{script}");
            let out = run_in(dir.path(), &script);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.starts_with(&format!("3 GET {name} HTTP/1.1\r|s_client|")),
                "{name}: {text}"
            );
            assert!(
                text.contains(&format!("|-cert|{pem}|-key|{pem}|-CAfile|{ca}|")),
                "{name}: {text}"
            );
            assert_not_pwned(dir.path(), &script);
        }
    }
}
