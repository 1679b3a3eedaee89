//! Splitting a sandbox-written `cluster-configuration.yaml` into its machine-list entries
//! (`sandbox up` writes one `  - hostname: ...` block per machine), for tests and benchmarks
//! that trim the config and add the rest back with `add -f`.
#![allow(dead_code)]

/// (the text before the first entry, [(hostname, entry text)]), in file order.
pub fn split_entries(text: &str) -> (String, Vec<(String, String)>) {
    let mut parts = text.split("\n  - hostname: ");
    let head = parts.next().unwrap_or_default().to_string();
    let entries = parts
        .map(|p| {
            let host = p.lines().next().unwrap_or_default().trim().to_string();
            (host, format!("\n  - hostname: {p}"))
        })
        .collect();
    (head, entries)
}
