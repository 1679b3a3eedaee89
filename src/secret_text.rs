//! Masking secret values in config text before any of it is shown: diagnostics quote the
//! lines around a problem, and a password may sit on the next line, or on the very line a
//! YAML syntax error points at (so the key may not be parsed yet). Every line whose key
//! looks like a secret (`password`, `docker-password`, `root-password`, tokens, ...) has
//! its value replaced by `*`, byte for byte, so the positions diagnostics point at stay
//! right.

/// Words that make a key a secret (compared without case).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "private-key",
    "private_key",
    "api-key",
    "apikey",
];

/// Keys that contain a secret word but name something that is not secret.
const NOT_SECRET: &[&str] = &["secret-name", "secretname", "secret_name"];

/// Whether a mapping key names a secret value.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    !NOT_SECRET.contains(&k.as_str()) && SECRET_WORDS.iter().any(|w| k.contains(w))
}

/// `text` with the value of every secret key replaced by `*` (same length in bytes, line
/// breaks and spaces kept; comments too). Covers `key: value`, `- key: value`, quoted keys, flow
/// mappings (`{user: a, password: b}`: the rest of the line) and block scalars
/// (`password: |` and the more indented lines after it).
pub fn mask_secrets(text: &str) -> String {
    let mut out: Vec<u8> = text.as_bytes().to_vec();
    let mut offset = 0;
    // Inside a secret's block scalar: lines more indented than this are its value.
    let mut block_indent: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        if let Some(key_indent) = block_indent {
            if body.trim().is_empty() || indent > key_indent {
                star(&mut out, offset, offset + body.len());
                offset += line.len();
                continue;
            }
            block_indent = None;
        }
        if let Some(value_start) = secret_value_start(body) {
            star(&mut out, offset + value_start, offset + body.len());
            let value = body[value_start..].trim();
            if value.starts_with('|') || value.starts_with('>') || value.is_empty() {
                block_indent = Some(indent);
            }
        }
        offset += line.len();
    }
    // only ASCII bytes were replaced by ASCII, on whole characters or whole runs
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Replace every non-blank byte in `out[from..to]` by `*`.
fn star(out: &mut [u8], from: usize, to: usize) {
    for b in &mut out[from..to] {
        if !b.is_ascii_whitespace() {
            *b = b'*';
        }
    }
}

/// Where the value of the first secret key in `line` starts (just after its `:`).
fn secret_value_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1].is_ascii_whitespace()) {
            // the key is the run of key characters (and quotes) before the colon
            let start = line[..i]
                .char_indices()
                .rev()
                .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '"' | '\'')))
                .map_or(0, |(p, c)| p + c.len_utf8());
            if is_secret_key(&line[start..i]) {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_starred_and_positions_kept() {
        let text = "default-machine-properties:\n  username: ops\n  password: \"S3cret-Sudo-Pw\"\n  keyfile-path: k\n";
        let m = mask_secrets(text);
        assert_eq!(m.len(), text.len());
        assert!(!m.contains("S3cret"), "{m}");
        assert!(m.contains("  password: ****************\n"), "{m}");
        assert!(
            m.contains("username: ops") && m.contains("keyfile-path: k"),
            "{m}"
        );
    }

    #[test]
    fn every_way_of_writing_a_secret_is_covered() {
        for (text, secret) in [
            ("- password: s3cret-pass\n", "s3cret-pass"),
            ("  \"docker-password\": 'hunter2'\n", "hunter2"),
            ("root-password:   täst-ü\n", "täst-ü"),
            ("machine: {user: a, password: fl0w}\n", "fl0w"),
            ("admin-password: |\n  blockpw\n  more\nnext: 1\n", "blockpw"),
            ("password:\n    on-next-line\nx: 1\n", "on-next-line"),
            ("  PASSWORD: Upper1\n", "Upper1"),
            ("token: abc.def\n", "abc.def"),
            ("password: \"unclosed\n", "unclosed"),
        ] {
            let m = mask_secrets(text);
            assert!(!m.contains(secret), "{text:?} -> {m:?}");
            assert_eq!(m.len(), text.len());
        }
        // a multi-byte character right before a key (found by the no-panic property test)
        assert_eq!(
            mask_secrets("  replicas\u{fffd}: 3\n"),
            "  replicas\u{fffd}: 3\n"
        );
        assert_eq!(mask_secrets("  é password: x\n"), "  é password: *\n");
        let kept = "secret-name: regsecret\nnext: 1\nhost: a:b\nkeyfile-path: /k\n";
        assert_eq!(mask_secrets(kept), kept);
        // a commented-out password is still a password
        assert_eq!(mask_secrets("# password: old1\n"), "# password: ****\n");
        assert_eq!(
            mask_secrets("admin-password: |\n  blockpw\nnext: 1\n"),
            "admin-password: *\n  *******\nnext: 1\n"
        );
    }
}
