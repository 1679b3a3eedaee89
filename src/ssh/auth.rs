//! Logging in: ssh-agent (its keys one by one), the key file, then the password (or
//! keyboard-interactive with it), as the target has them. The error lists what was tried
//! and what the server accepts, never the password.

use std::path::Path;

use super::error::SshError;
use super::{ConnectOptions, Target};

/// Log in with each key the agent holds until one is accepted.
fn agent_login(sess: &ssh2::Session, user: &str, socket: Option<&Path>) -> Result<(), String> {
    if socket.is_none() && std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return Err("SSH_AUTH_SOCK is not set".into());
    }
    let mut agent = sess.agent().map_err(|e| e.message().to_string())?;
    if let Some(path) = socket {
        agent
            .set_identity_path(path)
            .map_err(|e| e.message().to_string())?;
    }
    agent
        .connect()
        .map_err(|e| format!("cannot connect to the agent: {}", e.message()))?;
    agent
        .list_identities()
        .map_err(|e| format!("cannot list its keys: {}", e.message()))?;
    let keys = agent.identities().map_err(|e| e.message().to_string())?;
    if keys.is_empty() {
        let _ = agent.disconnect();
        return Err("it holds no keys (`ssh-add` one)".into());
    }
    let mut refused = 0;
    for key in &keys {
        if agent.userauth(user, key).is_ok() && sess.authenticated() {
            break;
        }
        refused += 1;
    }
    let _ = agent.disconnect();
    if sess.authenticated() {
        Ok(())
    } else {
        Err(format!("the server refused its {refused} key(s)"))
    }
}

/// Answers every keyboard-interactive prompt with the password.
struct PasswordPrompt<'a>(&'a str);

impl ssh2::KeyboardInteractivePrompt for PasswordPrompt<'_> {
    fn prompt<'b>(
        &mut self,
        _username: &str,
        _instructions: &str,
        prompts: &[ssh2::Prompt<'b>],
    ) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_string()).collect()
    }
}

/// Log in with what the target has: ssh-agent, key file, password (in that order).
pub(crate) fn authenticate(
    sess: &ssh2::Session,
    t: &Target,
    opts: &ConnectOptions,
) -> Result<(), SshError> {
    let auth_error = |detail: String, hint: String| SshError::Auth {
        host: t.name.clone(),
        address: t.address,
        port: t.port,
        user: t.user.clone(),
        detail,
        hint,
    };
    // What the server accepts ("none" login: one round trip) is asked only when it is
    // needed: to choose how to send a password, or to say why the login failed. A key or
    // the agent is tried without it.
    let ended = |e: ssh2::Error| {
        auth_error(
            format!("the server ended the login: {}", e.message()),
            format!("check sshd's log on {} (AllowUsers, MaxStartups)", t.name),
        )
    };
    let mut tried = Vec::new();
    if t.agent {
        if let Err(problem) = agent_login(sess, &t.user, opts.agent_socket.as_deref()) {
            tried.push(format!("ssh-agent ({problem})"));
        }
        if sess.authenticated() {
            return Ok(());
        }
    }
    if let Some(key) = &t.key_file {
        if let Err(e) = std::fs::File::open(key) {
            tried.push(format!("key {} (cannot read it: {e})", key.display()));
        } else if let Err(e) = sess.userauth_pubkey_file(&t.user, None, key, None) {
            tried.push(format!("key {} ({})", key.display(), e.message()));
        }
        if sess.authenticated() {
            return Ok(());
        }
    }
    let methods = match sess.auth_methods(&t.user) {
        Ok(m) => m.to_string(),
        Err(_) if sess.authenticated() => return Ok(()),
        Err(e) => return Err(ended(e)),
    };
    if let Some(password) = &t.password {
        let result = if methods.split(',').any(|m| m == "password") {
            sess.userauth_password(&t.user, password.expose())
        } else if methods.split(',').any(|m| m == "keyboard-interactive") {
            sess.userauth_keyboard_interactive(&t.user, &mut PasswordPrompt(password.expose()))
        } else {
            Ok(())
        };
        if let Err(e) = result {
            // libssh2's message never echoes the password.
            tried.push(format!("password ({})", e.message()));
        } else if !sess.authenticated() {
            tried.push("password (the server does not accept passwords)".to_string());
        }
        if sess.authenticated() {
            return Ok(());
        }
    }
    let detail = if tried.is_empty() {
        format!("no key file, password or ssh-agent is configured; the server accepts {methods}")
    } else {
        format!("tried {}; the server accepts {methods}", tried.join(", "))
    };
    let hint = match &t.key_file {
        Some(key) => format!(
            "put the public key of {} into ~{}/.ssh/authorized_keys on {} (e.g. `ssh-copy-id -i {} {}@{}`), \
             or correct `keyfile-path` / `username`; an encrypted key needs ssh-agent",
            key.display(),
            t.user,
            t.name,
            key.display(),
            t.user,
            t.address
        ),
        None if t.password.is_some() => format!(
            "correct `password` / `username` for {}; its sshd must allow PasswordAuthentication (keys are better: set `keyfile-path`)",
            t.name
        ),
        None => format!(
            "set `keyfile-path` (recommended), `password` or `ssh-agent: true` for {}",
            t.name
        ),
    };
    Err(auth_error(detail, hint))
}
