//! Running as root: directly when the login user is root; else through sudo.
//!
//! With a password: `sudo -S -p '<prompt marker>' -- sh -c '<ready marker>; <cmd>'`. The
//! password goes to sudo's stdin only after sudo printed the prompt marker, so it never
//! reaches the command even when sudo does not ask (NOPASSWD, cached credentials); the
//! command's own stdin flows only after the ready marker. A second prompt means a wrong
//! password: the call stops there instead of feeding more input to sudo. The password is
//! never in argv, logs or errors (a copy in a command's stderr is masked).
//! Without a password: `sudo -n`, which fails at once instead of waiting for a password.

use std::time::Duration;

use super::error::SshError;
use super::exec::{Output, SudoAuth};
use super::session::Session;
use super::shell::nonce;
use super::snippets::root;

impl Session {
    /// `exec` as root (see the module docs); a non-zero status is not an error.
    pub fn exec_root(
        &self,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        if self.target.is_root() {
            return self.exec(step, cmd, stdin, timeout);
        }
        match &self.target.password {
            Some(password) => {
                let n = nonce();
                let auth = SudoAuth {
                    password: password.expose(),
                    prompt: format!("[k8s-manage sudo {n}]"),
                    ready: format!("[k8s-manage root {n}]"),
                };
                let full = root::sudo_with_password(&auth.prompt, &auth.ready, cmd);
                let mut out = self.exec_with(step, &full, stdin, Some(&auth), timeout)?;
                mask(&mut out.stderr, password.expose().as_bytes());
                Ok(out)
            }
            None => self.exec(step, &root::sudo_without_password(cmd), stdin, timeout),
        }
    }

    /// `run` as root: a non-zero status becomes [`SshError::Command`].
    pub fn run_root(&self, step: &str, cmd: &str, timeout: Duration) -> Result<Output, SshError> {
        let out = self.exec_root(step, cmd, None, timeout)?;
        self.check(step, out)
    }
}

/// Replace every copy of `secret` in `text` with `***`.
fn mask(text: &mut Vec<u8>, secret: &[u8]) {
    if secret.len() < 3 {
        return;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(secret) {
            out.extend_from_slice(b"***");
            i += secret.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    *text = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let mut t = b"bad pw s3cret here and s3cret".to_vec();
        mask(&mut t, b"s3cret");
        assert_eq!(t, b"bad pw *** here and ***");
    }
}
