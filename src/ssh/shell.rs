//! Quoting for the remote POSIX shell, and the random tokens used for temporary names and
//! markers.

use ssh_key::rand_core::{OsRng, RngCore};

/// `s` as one word for `sh`: unchanged when it holds only safe characters, else in single
/// quotes (a `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// 16 random hex digits.
pub(crate) fn nonce() -> String {
    format!("{:016x}", OsRng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn quoted_words_survive_the_shell() {
        for word in [
            "plain",
            "/etc/kubernetes/pki/ca.crt",
            "",
            "two words",
            "it's",
            "'",
            "$(reboot)",
            "`id`",
            "a\nb",
            "\\n",
            "*",
            "--flag=x y",
        ] {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word, "{word:?}");
        }
        assert_eq!(quote("/etc/x"), "/etc/x");
        assert_eq!(quote("a b"), "'a b'");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 16);
    }
}
