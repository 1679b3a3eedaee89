//! Reading back a node's record of a relay round ([`crate::ssh::snippets::relay::receipt`]'s
//! output).

use super::plan::Receipt;
use crate::executor::docker::images;
use crate::ssh::snippets::relay::RECEIPT_SEPARATOR;

/// Parse [`crate::ssh::snippets::relay::receipt`]'s output: the receipt, and the image names `docker load`
/// reported.
pub fn parse_receipt(text: &str) -> (Receipt, Vec<String>) {
    let (head, errors) = text.split_once(RECEIPT_SEPARATOR).unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("none").trim();
    let loaded = images::loaded_names(&lines.collect::<Vec<_>>().join("\n"));
    if status == "none" || status.is_empty() {
        return (Receipt::NothingReceived, loaded);
    }
    let field = |k: &str| {
        status
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or("")
    };
    let receipt = Receipt::Received {
        bytes: field("bytes").parse().unwrap_or(0),
        sha256: field("sha256").to_string(),
        load_status: field("load").parse().unwrap_or(-1),
        load_error: errors.trim().to_string(),
    };
    (receipt, loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_is_read_back() {
        let text = "bytes=1048576 sha256=abc load=0 forward=0 verified=yes\nLoaded image: a/b:1\n--k8s-manage-relay--\n";
        let (r, loaded) = parse_receipt(text);
        assert_eq!(
            r,
            Receipt::Received {
                bytes: 1048576,
                sha256: "abc".into(),
                load_status: 0,
                load_error: String::new()
            }
        );
        assert_eq!(loaded, vec!["a/b:1".to_string()]);
        let (r, _) = parse_receipt("none\n--k8s-manage-relay--\n");
        assert_eq!(r, Receipt::NothingReceived);
        let (r, _) = parse_receipt(
            "bytes=10 sha256=x load=1 forward=none verified=no\n--k8s-manage-relay--\nunexpected EOF\n",
        );
        assert!(
            matches!(r, Receipt::Received { load_status: 1, ref load_error, .. } if load_error == "unexpected EOF")
        );
    }
}
