//! Running one command: a channel, stdin fed while stdout and stderr are read (so neither
//! side can fill a window and stall), a deadline for the whole command, then the exit
//! status. For sudo with a password, the password is written only once sudo has printed
//! its prompt, and stdin only once the command runs as root.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::error::{SshError, command_hint, stderr_tail};
use super::nonblock::{IoStop, Stop, retry, retry_io, wait_socket};
use super::session::Session;

/// What a command returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status; 128 + the signal number when a signal ended it.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Markers of a sudo call that reads its password from stdin.
pub(crate) struct SudoAuth<'a> {
    pub password: &'a str,
    /// What sudo prints when it wants the password (`sudo -p`).
    pub prompt: String,
    /// The line the command prints to stderr first, once it runs as root.
    pub ready: String,
}

/// What the stderr of a sudo call showed.
#[derive(Debug, PartialEq, Eq)]
enum SudoEvent {
    Prompt,
    Ready,
}

/// How long an abandoned channel may take to close before it is left to the session.
const CLOSE_GRACE: Duration = Duration::from_millis(300);
/// Bytes read per call.
const READ_CHUNK: usize = 64 * 1024;

impl Session {
    /// Run `cmd` with the login user's shell, feed `stdin` (then end of input), wait up to
    /// `timeout` for it to end. A non-zero exit status is not an error here: see `run`.
    /// After a timeout the channel is closed and the session stays usable.
    pub fn exec(
        &self,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.exec_with(step, cmd, stdin, None, timeout)
    }

    /// `exec`, and a non-zero exit status becomes [`SshError::Command`] naming the host, the
    /// step, the status, the last lines of stderr and a fix.
    pub fn run(&self, step: &str, cmd: &str, timeout: Duration) -> Result<Output, SshError> {
        let out = self.exec(step, cmd, None, timeout)?;
        self.check(step, out)
    }

    /// `Ok(out)` when it succeeded, else the command error.
    pub(crate) fn check(&self, step: &str, out: Output) -> Result<Output, SshError> {
        if out.status == 0 {
            return Ok(out);
        }
        let host = &self.target.name;
        let (tail, text) = if out.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            (stderr_tail(&out.stderr), out.stderr_str())
        } else {
            // Some tools report on stdout; better that than nothing.
            let t = stderr_tail(&out.stdout);
            let shown = if t.is_empty() {
                t
            } else {
                format!("(stdout) {t}")
            };
            (shown, out.stdout_str())
        };
        Err(SshError::Command {
            host: host.clone(),
            step: step.to_string(),
            status: out.status,
            hint: command_hint(host, &self.target.user, &text),
            stderr_tail: tail,
        })
    }

    pub(crate) fn exec_with(
        &self,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
        sudo: Option<&SudoAuth<'_>>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let host = &self.target.name;
        let start = Instant::now();
        let deadline = start + timeout;
        let timed_out = || SshError::Timeout {
            host: host.clone(),
            step: step.to_string(),
            after: timeout,
        };

        tracing::debug!(
            host = %host,
            step,
            command = %loggable(cmd, self.target.password.as_ref().map(|p| p.expose())),
            "running"
        );
        let result = self.exec_inner(step, cmd, stdin, sudo, start, deadline, &timed_out);
        let elapsed = start.elapsed();
        match &result {
            Ok(out) => {
                tracing::info!(host = %host, step, status = out.status, ?elapsed, "command finished")
            }
            Err(e) => tracing::info!(host = %host, step, ?elapsed, error = %e, "command failed"),
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn exec_inner(
        &self,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
        sudo: Option<&SudoAuth<'_>>,
        start: Instant,
        deadline: Instant,
        timed_out: &dyn Fn() -> SshError,
    ) -> Result<Output, SshError> {
        let sh = &self.shared;
        let host = &self.target.name;
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            SshError::io(host, format!("step `{step}`: {what}"), e)
        };
        let stop = |what: &str, s: Stop| match s {
            Stop::TimedOut => timed_out(),
            Stop::Failed(e) => failed(what, &e),
        };
        let _ = start;

        let _slot = sh.channel_slot(deadline).ok_or_else(timed_out)?;
        let mut ch = {
            let _one_at_a_time = sh.setup.lock().unwrap_or_else(|e| e.into_inner());
            super::requests::command();
            let mut ch = retry(&sh.sess, sh.fd, deadline, || sh.sess.channel_session())
                .map_err(|s| stop("opening an SSH channel", s))?;
            if let Err(s) = retry(&sh.sess, sh.fd, deadline, || ch.exec(cmd)) {
                self.abandon(ch);
                return Err(stop("starting the command", s));
            }
            ch
        };

        let stdin = stdin.unwrap_or(&[]);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (mut out_eof, mut err_eof) = (false, false);
        // Stdin may flow once sudo (if any) has started the command.
        let mut stdin_open = sudo.is_none();
        let mut stdin_pos = 0;
        let mut stdin_closed = false;
        let mut password: Vec<u8> = Vec::new();
        let mut password_pos = 0;
        let mut password_sent = false;
        let mut scan_from = 0;
        let mut buf = vec![0u8; READ_CHUNK];

        loop {
            let mut progress = false;

            // Output first: reading frees window space the command may wait for.
            for (is_err, eof, into) in [
                (false, &mut out_eof, &mut out),
                (true, &mut err_eof, &mut err),
            ] {
                while !*eof {
                    let r = if is_err {
                        ch.stderr().read(&mut buf)
                    } else {
                        ch.read(&mut buf)
                    };
                    match r {
                        Ok(0) => *eof = true,
                        Ok(n) => {
                            into.extend_from_slice(&buf[..n]);
                            progress = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            self.abandon(ch);
                            return Err(failed("reading the command's output", &e));
                        }
                    }
                }
            }

            if let Some(auth) = sudo {
                while !stdin_open {
                    match scan_sudo(&mut err, &mut scan_from, auth) {
                        None => break,
                        Some(SudoEvent::Ready) => stdin_open = true,
                        Some(SudoEvent::Prompt) if password_sent => {
                            self.abandon(ch);
                            return Err(SshError::Auth {
                                host: host.clone(),
                                address: self.target.address,
                                port: self.target.port,
                                user: self.target.user.clone(),
                                detail: format!(
                                    "sudo did not accept the password of {} (step `{step}`)",
                                    self.target.user
                                ),
                                hint: format!(
                                    "correct `password` for {host} (it is also the sudo password), or configure NOPASSWD sudo for {}",
                                    self.target.user
                                ),
                            });
                        }
                        Some(SudoEvent::Prompt) => {
                            password = format!("{}\n", auth.password).into_bytes();
                            password_sent = true;
                        }
                    }
                }
            }

            // The password, then stdin, then end of input.
            if password_pos < password.len() {
                match ch.write(&password[password_pos..]) {
                    Ok(n) => {
                        password_pos += n;
                        progress |= n > 0;
                        if password_pos == password.len() {
                            password.iter_mut().for_each(|b| *b = 0);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        // sudo is gone; its exit status and stderr will say why.
                        password_pos = password.len();
                        stdin_closed = true;
                    }
                }
            } else if stdin_open && !stdin_closed {
                if stdin_pos < stdin.len() {
                    match ch.write(&stdin[stdin_pos..]) {
                        Ok(n) => {
                            stdin_pos += n;
                            progress |= n > 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // The command closed its input early: not an error by itself.
                        Err(_) => stdin_closed = true,
                    }
                } else {
                    match ch.send_eof() {
                        Ok(()) => {
                            stdin_closed = true;
                            progress = true;
                        }
                        Err(e) if super::nonblock::would_block(&e) => {}
                        Err(_) => stdin_closed = true,
                    }
                }
            }

            if out_eof && err_eof {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                self.abandon(ch);
                return Err(timed_out());
            }
            if !progress {
                wait_socket(&sh.sess, sh.fd, deadline - now);
            }
        }

        // The command ended its output; collect the exit status.
        let _ = retry(&sh.sess, sh.fd, deadline, || ch.close());
        if let Err(s) = retry(&sh.sess, sh.fd, deadline, || ch.wait_close()) {
            return Err(stop("waiting for the command to end", s));
        }
        let mut status = ch
            .exit_status()
            .map_err(|e| failed("reading the exit status", &e))?;
        if let Ok(sig) = ch.exit_signal()
            && let Some(name) = sig.exit_signal
        {
            status = 128 + signal_number(&name);
        }
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }

    /// Close a channel we no longer wait for, briefly; libssh2 frees what is left with the
    /// session.
    pub(crate) fn abandon(&self, mut ch: ssh2::Channel) {
        let sh = &self.shared;
        let grace = Instant::now() + CLOSE_GRACE;
        let _ = retry(&sh.sess, sh.fd, grace, || ch.close());
    }

    /// Write all of `data` to a channel or SFTP file before `deadline`.
    pub(crate) fn write_all_until(
        &self,
        w: &mut impl Write,
        data: &[u8],
        deadline: Instant,
        chunk: usize,
    ) -> Result<(), IoStop> {
        let sh = &self.shared;
        let mut pos = 0;
        while pos < data.len() {
            // After "would block" libssh2 wants the very same buffer again: the slice only
            // moves on after a successful write.
            let end = (pos + chunk).min(data.len());
            let n = retry_io(&sh.sess, sh.fd, deadline, || w.write(&data[pos..end]))?;
            if n == 0 {
                return Err(IoStop::Failed(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the remote side accepted no more data",
                )));
            }
            pos += n;
        }
        Ok(())
    }
}

/// Longest command line shown in the log; the rest is counted, not shown.
const LOGGED_COMMAND: usize = 2000;

/// A command line as it may be logged: the login password (should a caller ever put it
/// there) and any private key block masked, long scripts cut. stdin is never logged.
fn loggable(cmd: &str, password: Option<&str>) -> String {
    let mut text = cmd.to_string();
    if let Some(p) = password.filter(|p| p.len() >= 3) {
        text = text.replace(p, "***");
    }
    let mut from = 0;
    while let Some(found) = text[from..].find("-----BEGIN ") {
        let begin = from + found;
        let after = begin + "-----BEGIN ".len();
        let header_end = text[after..]
            .find("-----")
            .map_or(text.len(), |i| after + i + 5);
        if !text[begin..header_end].contains("PRIVATE KEY") {
            from = header_end; // a certificate or public key: kept
            continue;
        }
        let end = text[header_end..]
            .find("-----END ")
            .and_then(|e| {
                let tail = header_end + e + "-----END ".len();
                text[tail..].find("-----").map(|f| tail + f + 5)
            })
            .unwrap_or(text.len());
        text.replace_range(begin..end, "<private key>");
        from = begin + "<private key>".len();
    }
    if text.len() > LOGGED_COMMAND {
        let mut cut = LOGGED_COMMAND;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let more = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("… ({more} more bytes)"));
    }
    text
}

/// Look for sudo's prompt or the ready marker in stderr (from `from` on), remove it from
/// `err` and say which came first.
fn scan_sudo(err: &mut Vec<u8>, from: &mut usize, auth: &SudoAuth<'_>) -> Option<SudoEvent> {
    let ready_line = format!("{}\n", auth.ready);
    let prompt = find(&err[*from..], auth.prompt.as_bytes()).map(|i| i + *from);
    let ready = find(&err[*from..], ready_line.as_bytes()).map(|i| i + *from);
    let (at, len, event) = match (prompt, ready) {
        (Some(p), Some(r)) if r < p => (r, ready_line.len(), SudoEvent::Ready),
        (Some(p), _) => (p, auth.prompt.len(), SudoEvent::Prompt),
        (None, Some(r)) => (r, ready_line.len(), SudoEvent::Ready),
        (None, None) => {
            // A marker may be cut between two reads: look again from a little before the end.
            let keep = auth.prompt.len().max(ready_line.len());
            *from = err.len().saturating_sub(keep).max(*from);
            return None;
        }
    };
    err.drain(at..at + len);
    *from = at;
    Some(event)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn signal_number(name: &str) -> i32 {
    match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => 127,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> SudoAuth<'static> {
        SudoAuth {
            password: "pw",
            prompt: "[P:1]".into(),
            ready: "[R:1]".into(),
        }
    }

    #[test]
    fn the_prompt_then_the_marker_are_found_and_removed() {
        let a = auth();
        let mut err = b"lecture\n[P:1]".to_vec();
        let mut from = 0;
        assert_eq!(scan_sudo(&mut err, &mut from, &a), Some(SudoEvent::Prompt));
        assert_eq!(err, b"lecture\n");
        assert_eq!(scan_sudo(&mut err, &mut from, &a), None);
        err.extend_from_slice(b"[R:1]\nreal error\n");
        assert_eq!(scan_sudo(&mut err, &mut from, &a), Some(SudoEvent::Ready));
        assert_eq!(err, b"lecture\nreal error\n");
    }

    #[test]
    fn a_marker_cut_between_reads_is_still_found() {
        let a = auth();
        let mut err = b"noise [R:".to_vec();
        let mut from = 0;
        assert_eq!(scan_sudo(&mut err, &mut from, &a), None);
        err.extend_from_slice(b"1]\n");
        assert_eq!(scan_sudo(&mut err, &mut from, &a), Some(SudoEvent::Ready));
        assert_eq!(err, b"noise ");
    }

    #[test]
    fn logged_command_lines_hold_no_password_or_private_key() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretkeymaterial\n-----END OPENSSH PRIVATE KEY-----\n";
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        let cmd = format!("echo hunter22 && cat <<EOF\n{key}EOF\n{cert}\n{key}");
        let shown = loggable(&cmd, Some("hunter22"));
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(!shown.contains("secretkeymaterial"), "{shown}");
        assert_eq!(shown.matches("<private key>").count(), 2, "{shown}");
        assert!(shown.contains("MIIB"), "certificates stay: {shown}");
        let long = "x".repeat(5000);
        let shown = loggable(&long, None);
        assert!(
            shown.len() < 2100 && shown.ends_with("(3000 more bytes)"),
            "{shown}"
        );
        // an unterminated block is masked to the end
        assert_eq!(
            loggable("a -----BEGIN RSA PRIVATE KEY-----\nzzz", None),
            "a <private key>"
        );
    }

    #[test]
    fn signals_map_like_a_shell() {
        assert_eq!(signal_number("KILL"), 9);
        assert_eq!(signal_number("TERM"), 15);
    }
}
