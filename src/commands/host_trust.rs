//! Trust on first use, as the commands do it: a host whose key known_hosts does not list
//! is asked about on the terminal (its name, address and fingerprint; `yes` records the
//! key). Without a terminal nobody can answer, so the key is refused and the error says to
//! pass `--accept-new-host-keys` (or to add the key to known_hosts).

use crate::ssh::{ConfirmHost, Target};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

/// Why an unknown key is refused when stdin is not a terminal.
pub const NO_TERMINAL: &str = "stdin is not a terminal, so nobody can be asked; pass --accept-new-host-keys to record new host keys without asking";

/// The question shown for an unknown host key.
pub fn question(t: &Target, fingerprint: &str) -> String {
    format!(
        "{} ({}) is not in known_hosts. Its host key fingerprint is {fingerprint}.\n\
         Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on that machine.\n\
         Record this key and connect? Type yes or no: ",
        t.name,
        t.socket_addr()
    )
}

/// `Ok` for an answer of `yes` (or `y`), else why not.
pub fn answer(line: &str) -> Result<(), String> {
    match line.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" => Ok(()),
        "" => Err("no answer at the prompt".into()),
        other => Err(format!("answered `{other}` at the prompt")),
    }
}

/// The callback for [`crate::ssh::ConnectOptions::confirm_new_host`]: asks on the terminal
/// (stderr, stdin), refuses without one.
pub fn confirm_on_terminal() -> ConfirmHost {
    Arc::new(|t: &Target, fingerprint: &str| {
        if !std::io::stdin().is_terminal() {
            return Err(NO_TERMINAL.to_string());
        }
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(question(t, fingerprint).as_bytes());
        let _ = e.flush();
        drop(e);
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(_) => answer(&line),
            Err(err) => Err(format!("cannot read the answer: {err}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_accepts() {
        assert!(answer("yes\n").is_ok());
        assert!(answer(" Y ").is_ok());
        assert!(answer("no\n").unwrap_err().contains("`no`"));
        assert!(answer("").is_err());
        assert!(answer("yess").is_err());
        let t = Target {
            name: "m1".into(),
            address: "10.0.0.1".parse().unwrap(),
            port: 2222,
            user: "root".into(),
            key_file: None,
            password: None,
            agent: false,
        };
        let q = question(&t, "SHA256:abc");
        assert!(
            q.contains("m1 (10.0.0.1:2222)") && q.contains("SHA256:abc"),
            "{q}"
        );
        assert!(NO_TERMINAL.contains("--accept-new-host-keys"));
    }
}
