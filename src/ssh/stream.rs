//! Streaming a large input into one remote command (an image bundle into a relay
//! receiver): stdin is read from a `Read` in chunks and written as fast as the channel
//! takes it, so nothing is held whole in memory; the command's output is collected (capped)
//! meanwhile. A channel that moves no data for `stall` is given up (a dead peer), as is one
//! that runs past `timeout`.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::error::SshError;
use super::exec::{Output, signal_number};
use super::nonblock::{Stop, retry, wait_socket};
use super::session::Session;

/// Bytes read from the input per chunk.
const CHUNK: usize = 256 * 1024;
/// Output kept per stream; the rest is dropped (receivers print a few lines).
const OUTPUT_CAP: usize = 1 << 20;

/// What a streamed command returned.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub output: Output,
    /// Bytes of the input the command accepted.
    pub sent: u64,
    /// Whether all of the input was sent (the command may close its stdin early).
    pub input_complete: bool,
}

impl Session {
    /// The known_hosts line for this host as this session verified it
    /// (`[address]:port type base64`), for handing to another machine that must check it.
    pub fn known_hosts_line(&self) -> String {
        use base64::Engine;
        format!(
            "{} {} {}",
            super::known_hosts::host_field(self.target.address, self.target.port),
            super::host_key::blob_type(&self.shared.host_key),
            base64::engine::general_purpose::STANDARD.encode(&self.shared.host_key)
        )
    }

    /// Run `cmd`, streaming `input` into its stdin (then end of input); wait until it ends.
    /// A non-zero exit status is not an error here. Errors: nothing moved for `stall`, or
    /// the whole command took longer than `timeout` (the channel is closed either way and
    /// the session stays usable).
    pub fn exec_streaming(
        &self,
        step: &str,
        cmd: &str,
        input: &mut dyn Read,
        stall: Duration,
        timeout: Duration,
    ) -> Result<Streamed, SshError> {
        let sh = &self.shared;
        let host = &self.target.name;
        let deadline = Instant::now() + timeout;
        let timed_out = |after| SshError::Timeout {
            host: host.clone(),
            step: step.to_string(),
            after,
        };
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            SshError::io(host, format!("step `{step}`: {what}"), e)
        };
        let stop = |what: &str, s: Stop| match s {
            Stop::TimedOut => timed_out(timeout),
            Stop::Failed(e) => failed(what, &e),
        };

        let _slot = sh
            .channel_slot(deadline)
            .ok_or_else(|| timed_out(timeout))?;
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

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_eof, mut err_eof) = (false, false);
        let mut chunk = vec![0u8; CHUNK];
        let (mut pending_from, mut pending_to) = (0usize, 0usize);
        let (mut input_eof, mut stdin_closed, mut input_complete) = (false, false, false);
        let mut sent = 0u64;
        let mut read_buf = vec![0u8; 64 * 1024];
        let mut last_progress = Instant::now();

        loop {
            let mut progress = false;
            for (is_err, eof, into) in [
                (false, &mut out_eof, &mut out),
                (true, &mut err_eof, &mut err),
            ] {
                while !*eof {
                    let r = if is_err {
                        ch.stderr().read(&mut read_buf)
                    } else {
                        ch.read(&mut read_buf)
                    };
                    match r {
                        Ok(0) => *eof = true,
                        Ok(n) => {
                            if into.len() < OUTPUT_CAP {
                                into.extend_from_slice(&read_buf[..n]);
                            }
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

            if !stdin_closed {
                if pending_from == pending_to && !input_eof {
                    match input.read(&mut chunk) {
                        Ok(0) => input_eof = true,
                        Ok(n) => (pending_from, pending_to) = (0, n),
                        Err(e) => {
                            self.abandon(ch);
                            return Err(failed("reading the input", &e));
                        }
                    }
                }
                if pending_from < pending_to {
                    // After "would block" libssh2 wants the very same buffer again.
                    match ch.write(&chunk[pending_from..pending_to]) {
                        Ok(n) => {
                            pending_from += n;
                            sent += n as u64;
                            progress |= n > 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // The command closed its input early: its status and output say why.
                        Err(_) => stdin_closed = true,
                    }
                } else if input_eof {
                    match ch.send_eof() {
                        Ok(()) => {
                            (stdin_closed, input_complete) = (true, true);
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
            if progress {
                last_progress = now;
            } else if now.duration_since(last_progress) >= stall {
                self.abandon(ch);
                return Err(SshError::Timeout {
                    host: host.clone(),
                    step: format!("{step} (no data moved)"),
                    after: stall,
                });
            }
            if now >= deadline {
                self.abandon(ch);
                return Err(timed_out(timeout));
            }
            if !progress {
                wait_socket(&sh.sess, sh.fd, deadline - now);
            }
        }

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
        Ok(Streamed {
            output: Output {
                status,
                stdout: out,
                stderr: err,
            },
            sent,
            input_complete,
        })
    }
}
