//! What can go wrong over SSH. Every message names the host and says how to fix it;
//! none contains a password.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::known_hosts::host_field;

/// How many lines of stderr a [`SshError::Command`] keeps.
pub(crate) const STDERR_TAIL_LINES: usize = 12;
/// Longest line kept in a stderr tail.
const STDERR_TAIL_LINE_CHARS: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(
        "{host} ({}): cannot connect: {detail} (gave up after {attempts} attempt(s) in {:.1}s)\n  fix: {hint}",
        show_addr(address, *port),
        elapsed.as_secs_f64()
    )]
    Connect {
        host: String,
        address: IpAddr,
        port: u16,
        detail: String,
        attempts: u32,
        elapsed: Duration,
        hint: String,
    },

    #[error(
        "{host} ({}): the host key has CHANGED: {known_hosts_path} {} expects {expected}, \
         the server presented {got}. Someone may be intercepting the connection, or the server was reinstalled.\n  \
         fix: if the server was reinstalled, remove the line for {} from {known_hosts_path} \
         (`ssh-keygen -R '{}' -f {known_hosts_path}`), then re-run",
        show_addr(address, *port),
        if *line > 0 { format!("line {line}") } else { "(this run)".to_string() },
        host_field(*address, *port),
        host_field(*address, *port),
        known_hosts_path = known_hosts_path.display()
    )]
    HostKeyMismatch {
        host: String,
        address: IpAddr,
        port: u16,
        /// What known_hosts (or the first connection) has: type and fingerprint.
        expected: String,
        /// What the server presented: type and fingerprint.
        got: String,
        known_hosts_path: PathBuf,
        /// The line of the recorded key (0: the key of this run's first connection).
        line: u32,
    },

    #[error(
        "{host} ({}): the unknown host key {fingerprint} was not accepted: {why}\n  \
         fix: compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server, then accept it \
         (on a terminal, or with --accept-new-host-keys) or add its line to {known_hosts_path}",
        show_addr(address, *port),
        known_hosts_path = known_hosts_path.display()
    )]
    UnknownHostRefused {
        host: String,
        address: IpAddr,
        port: u16,
        fingerprint: String,
        known_hosts_path: PathBuf,
        /// Why: refused at the prompt, or no terminal to ask on.
        why: String,
    },

    #[error(
        "{host} ({}): the host key {got} is REVOKED ({known_hosts_path} line {line}, `@revoked`); refusing to connect\n  \
         fix: the server must get a new host key; then remove or update line {line} and re-run",
        show_addr(address, *port),
        known_hosts_path = known_hosts_path.display()
    )]
    HostKeyRevoked {
        host: String,
        address: IpAddr,
        port: u16,
        got: String,
        known_hosts_path: PathBuf,
        line: u32,
    },

    #[error("{host} ({}): authentication as {user} failed: {detail}\n  fix: {hint}", show_addr(address, *port))]
    Auth {
        host: String,
        address: IpAddr,
        port: u16,
        user: String,
        detail: String,
        hint: String,
    },

    #[error(
        "{host}: step `{step}` failed with exit status {status}{}\n  fix: {hint}",
        show_tail(stderr_tail)
    )]
    Command {
        host: String,
        step: String,
        status: i32,
        stderr_tail: String,
        hint: String,
    },

    #[error(
        "{host}: step `{step}` did not finish within {:.1}s; the command may still be running there\n  \
         fix: check {host} for what blocks it (network, disk, a lock), or allow more time",
        after.as_secs_f64()
    )]
    Timeout {
        host: String,
        step: String,
        after: Duration,
    },

    #[error("{host}: cannot reach {socket} through SSH: {detail}\n  fix: {hint}")]
    Forward {
        host: String,
        socket: String,
        detail: String,
        hint: String,
    },

    #[error("{host}: {context}: {detail}{}", lost_connection_hint(host, detail))]
    Io {
        host: String,
        context: String,
        detail: String,
    },
}

impl SshError {
    /// The host the error is about.
    pub fn host(&self) -> &str {
        match self {
            SshError::Connect { host, .. }
            | SshError::HostKeyMismatch { host, .. }
            | SshError::UnknownHostRefused { host, .. }
            | SshError::HostKeyRevoked { host, .. }
            | SshError::Auth { host, .. }
            | SshError::Command { host, .. }
            | SshError::Timeout { host, .. }
            | SshError::Forward { host, .. }
            | SshError::Io { host, .. } => host,
        }
    }

    pub(crate) fn io(host: &str, context: impl Into<String>, detail: impl ToString) -> SshError {
        SshError::Io {
            host: host.to_string(),
            context: context.into(),
            detail: detail.to_string(),
        }
    }
}

/// libssh2's errors for a connection that went away under a session: socket send (-7),
/// socket disconnect (-13), socket receive (-43).
const LOST: &[&str] = &["Session(-7)", "Session(-13)", "Session(-43)"];

/// A fix for an I/O error that means the SSH connection itself is gone.
fn lost_connection_hint(host: &str, detail: &str) -> String {
    if LOST.iter().any(|c| detail.contains(c)) {
        format!(
            "\n  fix: the SSH connection to {host} was lost (closed by the server or by the \
             network): check that sshd runs on {host} and that it can be reached, then re-run \
             (what was done is kept; a re-run resumes)"
        )
    } else {
        String::new()
    }
}

fn show_addr(address: &IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(*address, port).to_string()
}

fn show_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; it wrote nothing to stderr".to_string()
    } else {
        let mut s = String::from(":");
        for line in tail.lines() {
            s.push_str("\n    ");
            s.push_str(line);
        }
        s
    }
}

/// The last lines of a command's stderr, each cut to a readable length.
pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| {
            if l.chars().count() > STDERR_TAIL_LINE_CHARS {
                let cut: String = l.chars().take(STDERR_TAIL_LINE_CHARS).collect();
                format!("{cut}...")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fix for a failed command, from what it wrote to stderr.
pub(crate) fn command_hint(host: &str, user: &str, stderr: &str) -> String {
    let lower = stderr.to_lowercase();
    if lower.contains("a password is required") || lower.contains("a terminal is required") {
        format!(
            "set `password` for {host} in the machine list (sudo asks {user} for one), or configure NOPASSWD sudo for {user}"
        )
    } else if lower.contains("is not in the sudoers file") || lower.contains("not allowed to") {
        format!("give {user} sudo rights on {host}, or log in as root")
    } else if lower.contains("docker.sock") && lower.contains("permission denied") {
        format!(
            "use root or add the user to the docker group on {host} (`usermod -aG docker {user}`)"
        )
    } else if lower.contains("sudo: command not found") || lower.contains("sudo: not found") {
        format!("install sudo on {host}, or log in as root")
    } else if lower.contains("command not found") || lower.contains(": not found") {
        format!("install the missing program on {host}")
    } else if lower.contains("no space left on device") {
        format!("free disk space on {host}")
    } else if lower.contains("read-only file system") {
        format!("remount the file system read-write on {host}")
    } else if lower.contains("permission denied") || lower.contains("operation not permitted") {
        format!("run the step as root on {host}, or fix the permissions it names")
    } else {
        format!("read the error output above; run the step by hand on {host} to see more")
    }
}

/// The fix for a connection that could not be made.
pub(crate) fn connect_hint(port: u16, detail: &str) -> String {
    let lower = detail.to_lowercase();
    if lower.contains("refused") {
        format!(
            "start sshd on the host, or set `sshport` if it listens on another port than {port}"
        )
    } else if lower.contains("no route") || lower.contains("unreachable") {
        "check the address (`hostip`) and the network path to it".to_string()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        format!(
            "check that the machine is on and that no firewall drops port {port}; raise the connect timeout for slow links"
        )
    } else {
        format!("check that sshd runs on port {port} and accepts connections (MaxStartups)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let many: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let tail = stderr_tail(many.as_bytes());
        assert!(tail.starts_with("line 19"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
        let long = "x".repeat(1000);
        assert!(stderr_tail(long.as_bytes()).len() < 500);
    }

    #[test]
    fn a_command_error_names_host_step_status_tail_and_fix() {
        let e = SshError::Command {
            host: "master1".into(),
            step: "start etcd".into(),
            status: 125,
            stderr_tail:
                "docker: permission denied while trying to connect to /var/run/docker.sock".into(),
            hint: command_hint(
                "master1",
                "ops",
                "permission denied ... /var/run/docker.sock",
            ),
        };
        let text = e.to_string();
        for part in [
            "master1",
            "start etcd",
            "125",
            "permission denied",
            "docker group",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert_eq!(e.host(), "master1");
    }

    #[test]
    fn sudo_asking_for_a_password_says_what_to_set() {
        let hint = command_hint("worker3", "ops", "sudo: a password is required\n");
        assert!(
            hint.contains("password") && hint.contains("NOPASSWD"),
            "{hint}"
        );
        assert!(hint.contains("worker3"));
    }

    #[test]
    fn a_lost_connection_says_so() {
        let e = SshError::io(
            "worker1",
            "step `verify`: opening an SSH channel",
            "[Session(-7)] Unable to send channel-open request",
        );
        let text = e.to_string();
        assert!(
            text.contains("SSH connection to worker1 was lost"),
            "{text}"
        );
        assert!(text.contains("re-run"), "{text}");
        let other = SshError::io("w", "reading", "permission denied").to_string();
        assert!(!other.contains("fix:"), "{other}");
    }

    #[test]
    fn connection_hints_follow_the_cause() {
        assert!(connect_hint(22, "Connection refused (os error 111)").contains("sshd"));
        assert!(connect_hint(22, "No route to host").contains("address"));
        assert!(connect_hint(22, "connection timed out").contains("firewall"));
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn errors_stay_small_enough_to_return_by_value() {
        assert!(std::mem::size_of::<super::SshError>() <= 120);
    }
}
