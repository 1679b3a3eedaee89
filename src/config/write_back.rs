//! Writing membership changes back into `cluster-configuration.yaml`, in place, as text:
//! every comment, unknown key and untouched entry stays exactly as written.
//!
//! - Added machines are appended to `machine-list:` with the keys and values of their
//!   node-list entry as written (either node-list form), re-indented like the entries
//!   already there; an entry without `k8s-role` gets the role it joined with (`worker`). Comments between an entry's keys are kept; the node list's own
//!   comments around an entry are not copied.
//! - A removed machine's entry is deleted as a whole block: its lines, plus the comment
//!   lines directly above its `-` (no blank line between, at the `-`'s indentation or
//!   deeper), which are taken to belong to it. Blank lines stay.
//! - Before writing, the old file is copied to
//!   `DIR/.k8s-manage/backups/cluster-configuration.yaml.<UTC timestamp>`; the new text is
//!   written atomically (temporary file beside it, then rename), re-read and validated, and
//!   the backup is put back when it does not hold exactly the expected machines. What
//!   validates is the model's to say: `model::checked_edit` passes it in.

use super::raw::RawConfig;
use super::source::SourceFile;
use super::yaml_tree::{Kind, Node};
use super::{CLUSTER_FILE, node_list};
use crate::diag::Diagnostics;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A machine entry to append, as written in its node list: `(key, value text)` pairs; a
/// value may span lines (indented relative to its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub hostname: String,
    pub fields: Vec<(String, String)>,
}

/// What a write-back did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub path: PathBuf,
    pub backup: PathBuf,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The largest byte offset a node's text reaches (collections: their last descendant).
fn end_of(n: &Node) -> usize {
    let own = n.pos.byte_offset + n.pos.byte_len;
    match &n.kind {
        Kind::Seq(items) => items.iter().map(end_of).fold(own, usize::max),
        Kind::Map(entries) => entries
            .iter()
            .map(|(k, v)| end_of(k).max(end_of(v)))
            .fold(own, usize::max),
        _ => own,
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1)
}

/// The end of the line holding `at` (the offset of its `\n`, or the end of the text).
fn line_end(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text[at..].find('\n').map_or(text.len(), |i| at + i)
}

/// The first non-blank character at or before `at`, skipping whitespace backwards.
fn prev_non_blank(text: &str, at: usize) -> Option<(usize, char)> {
    text[..at.min(text.len())]
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_whitespace())
}

fn is_flow(text: &str, first_key: &Node) -> bool {
    matches!(
        prev_non_blank(text, first_key.pos.byte_offset),
        Some((_, '{'))
    )
}

/// The text of a scalar as written (quotes included when the span leaves them out).
fn scalar_source(text: &str, n: &Node) -> String {
    let (s, e) = (n.pos.byte_offset, n.pos.byte_offset + n.pos.byte_len);
    let mut out = text.get(s..e).unwrap_or_default().to_string();
    for q in ['"', '\''] {
        let before = s.checked_sub(1).and_then(|i| text.get(i..s));
        let after = text.get(e..e + 1);
        if before == Some(&q.to_string()) && after == Some(&q.to_string()) {
            out = format!("{q}{out}{q}");
        }
    }
    out
}

/// The `(key, value text)` pairs of one machine mapping, as written.
fn fields_of(text: &str, map: &Node) -> Result<Vec<(String, String)>, String> {
    let entries = map.entries();
    let Some((first, _)) = entries.first() else {
        return Ok(Vec::new());
    };
    let flow = is_flow(text, first);
    let mut out = Vec::new();
    for (k, v) in entries {
        let key = scalar_source(text, k);
        if flow || v.is_scalar() && !v.is_null() {
            if !v.is_scalar() {
                return Err(format!(
                    "line {}: `{key}` holds a nested value inside a flow mapping ({{...}}); write the entry in block form",
                    k.pos.line
                ));
            }
            out.push((key, scalar_source(text, v)));
            continue;
        }
        if v.is_null() {
            out.push((key, String::new()));
            continue;
        }
        // a block or flow collection: everything after `key:` to the end of its last line,
        // later lines kept relative to the key's column
        let kstart = k.pos.byte_offset;
        let kcol = kstart - line_start(text, kstart);
        let colon = text[kstart..]
            .find(':')
            .map(|i| kstart + i + 1)
            .unwrap_or(kstart);
        let end = line_end(text, end_of(v).max(colon));
        let mut value = String::new();
        for (i, line) in text[colon..end].split('\n').enumerate() {
            if i == 0 {
                value.push_str(line.trim());
                continue;
            }
            let ws = line.len() - line.trim_start().len();
            value.push('\n');
            value.push_str(&line[ws.min(kcol)..]);
        }
        out.push((key, value));
    }
    Ok(out)
}

/// The entries of `hostnames` in a node-list file (list or map form), as written.
pub fn entries_from_node_list(path: &Path, hostnames: &[String]) -> Result<Vec<NewEntry>, String> {
    let mut diags = Diagnostics::default();
    let Some(file) = SourceFile::read(path, &mut diags) else {
        return Err(diags.render_text(false));
    };
    let list = node_list::read(path, &mut diags).ok_or_else(|| diags.render_text(false))?;
    // An entry without `k8s-role` joins as the file's `remote_deployment_role` or a worker
    // (see `model::node_list_match`); the cluster file must say which.
    let default_role = list
        .default_role
        .as_ref()
        .map(|r| r.value.clone())
        .unwrap_or_else(|| "worker".into());
    let text: &str = &file.text;
    let mut found: Vec<NewEntry> = Vec::new();
    if let Some(seq) = file.root.get("machine-list") {
        if let Kind::Seq(items) = &seq.kind {
            for item in items {
                let name = item.get("hostname").and_then(|h| h.scalar_text(text));
                found.push(NewEntry {
                    hostname: name.unwrap_or_default(),
                    fields: fields_of(text, item)?,
                });
            }
        }
    } else if let Some(map) = file.root.get("machinelist") {
        for (k, v) in map.entries() {
            let name = k.key_text().unwrap_or_default();
            let mut fields = fields_of(text, v)?;
            if !fields
                .iter()
                .any(|(key, _)| key.trim_matches(['"', '\'']) == "hostname")
            {
                fields.insert(0, ("hostname".into(), scalar_source(text, k)));
            }
            found.push(NewEntry {
                hostname: name,
                fields,
            });
        }
    }
    for e in &mut found {
        if !e
            .fields
            .iter()
            .any(|(key, _)| key.trim_matches(['"', '\'']) == "k8s-role")
        {
            e.fields.push(("k8s-role".into(), default_role.clone()));
        }
    }
    hostnames
        .iter()
        .map(|h| {
            found
                .iter()
                .find(|e| &e.hostname == h)
                .cloned()
                .ok_or_else(|| format!("{}: no entry for {h}", path.display()))
        })
        .collect()
}

/// One entry of `machine-list` in the cluster file: its hostname and its block.
struct Block {
    hostname: Option<String>,
    /// Start of the first line of the block (its leading comments included).
    start: usize,
    /// End of its last line (at the `\n`).
    end: usize,
}

/// Locate the `machine-list` entries; error when it is not a block sequence.
fn blocks(text: &str, root: &Node) -> Result<(Vec<Block>, usize, usize), String> {
    let seq = root
        .get("machine-list")
        .ok_or("the cluster file has no `machine-list`")?;
    let Kind::Seq(items) = &seq.kind else {
        return Err("`machine-list` is not a list".into());
    };
    let mut out = Vec::new();
    let mut dash_col = 0;
    let mut key_col = 0;
    for (i, item) in items.iter().enumerate() {
        let first = item.entries().first().map(|(k, _)| k).unwrap_or(item);
        if is_flow(text, first) {
            return Err(format!(
                "machine-list entry {} is a flow mapping ({{...}}); write it in block form (`- hostname: ...` lines) so it can be edited",
                i + 1
            ));
        }
        let Some((dash, '-')) = prev_non_blank(text, first.pos.byte_offset) else {
            return Err(
                "`machine-list` is a flow list ([...]); write it in block form (`- hostname: ...` lines) so it can be edited"
                    .into(),
            );
        };
        let dash_line = line_start(text, dash);
        dash_col = dash - dash_line;
        key_col = first.pos.byte_offset - line_start(text, first.pos.byte_offset);
        if line_start(text, first.pos.byte_offset) != dash_line {
            key_col = dash_col + 2;
        }
        // comment lines directly above the dash, indented at least like it, belong to it
        let mut start = dash_line;
        while start > 0 {
            let prev = line_start(text, start - 1);
            let line = &text[prev..start - 1];
            let t = line.trim_start();
            if t.starts_with('#') && line.len() - t.len() >= dash_col {
                start = prev;
            } else {
                break;
            }
        }
        let hostname = item.get("hostname").and_then(|h| h.scalar_text(text));
        out.push(Block {
            hostname,
            start,
            end: line_end(text, end_of(item)),
        });
    }
    if out.is_empty() {
        return Err("`machine-list` is empty".into());
    }
    Ok((out, dash_col, key_col))
}

fn render_entry(e: &NewEntry, dash_col: usize, key_col: usize) -> String {
    let mut s = String::new();
    for (i, (k, v)) in e.fields.iter().enumerate() {
        if i == 0 {
            s.push_str(&" ".repeat(dash_col));
            s.push('-');
            s.push_str(&" ".repeat(key_col.saturating_sub(dash_col + 1).max(1)));
        } else {
            s.push_str(&" ".repeat(key_col));
        }
        s.push_str(k);
        s.push(':');
        let mut lines = v.split('\n');
        let first = lines.next().unwrap_or_default();
        if !first.is_empty() {
            s.push(' ');
            s.push_str(first);
        }
        for l in lines {
            s.push('\n');
            if !l.trim().is_empty() {
                s.push_str(&" ".repeat(key_col));
                s.push_str(l);
            }
        }
        s.push('\n');
    }
    s
}

/// Pure: the cluster file text with `remove` (hostnames) deleted and `add` appended.
pub fn edit_text(text: &str, add: &[NewEntry], remove: &[String]) -> Result<String, String> {
    let mut diags = Diagnostics::default();
    let file = SourceFile::parse(
        CLUSTER_FILE.into(),
        CLUSTER_FILE.into(),
        text.into(),
        &mut diags,
    )
    .ok_or_else(|| diags.render_text(false))?;
    let (bs, dash_col, key_col) = blocks(text, &file.root)?;
    for r in remove {
        if !bs.iter().any(|b| b.hostname.as_deref() == Some(r.as_str())) {
            return Err(format!("`machine-list` has no entry with hostname {r}"));
        }
    }
    for a in add {
        if bs
            .iter()
            .any(|b| b.hostname.as_deref() == Some(a.hostname.as_str()))
        {
            return Err(format!("`machine-list` already has {}", a.hostname));
        }
    }
    let last_end = bs.last().map(|b| b.end).unwrap_or(text.len());
    // cut the removed blocks: from their first line to the start of the next block's
    // first line (or the end of the block's last line, newline included)
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for (i, b) in bs.iter().enumerate() {
        if !remove
            .iter()
            .any(|r| b.hostname.as_deref() == Some(r.as_str()))
        {
            continue;
        }
        // a middle entry takes the blank lines after it (the ones before it stay); the
        // last entry takes the blank lines before it
        let (start, end) = match bs.get(i + 1) {
            Some(next) => (b.start, next.start),
            None => {
                let mut start = b.start;
                while start > 0 {
                    let prev = line_start(text, start - 1);
                    if text[prev..start - 1].trim().is_empty() && prev > bs[0].start {
                        start = prev;
                    } else {
                        break;
                    }
                }
                (start, (b.end + 1).min(text.len()))
            }
        };
        cuts.push((start, end));
    }
    let mut out = String::with_capacity(text.len() + 256 * add.len());
    let mut at = 0;
    let insert_at = (last_end + 1).min(text.len());
    let mut inserted = false;
    let insert = |out: &mut String| {
        if !text[..insert_at].ends_with('\n') {
            out.push('\n');
        }
        for a in add {
            out.push_str(&render_entry(a, dash_col, key_col));
        }
    };
    for (s, e) in &cuts {
        if !inserted && insert_at <= *s {
            out.push_str(&text[at..insert_at]);
            at = insert_at;
            insert(&mut out);
            inserted = true;
        }
        out.push_str(&text[at..*s]);
        at = *e;
    }
    if !inserted {
        let ia = insert_at.max(at);
        out.push_str(&text[at..ia]);
        at = ia;
        insert(&mut out);
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// The raw config the edited `cluster-configuration.yaml` would give, read with the rest of
/// the config dir (nothing is written); problems of the read go to `diags`.
pub fn edited_raw(
    dir: &Path,
    add: &[NewEntry],
    remove: &[String],
    diags: &mut Diagnostics,
) -> Result<RawConfig, String> {
    let path = dir.join(CLUSTER_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let edited = edit_text(&text, add, remove).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut raw = super::read_dir(dir, diags);
    let name: std::sync::Arc<str> = format!("{} (as it would be written)", path.display()).into();
    let file = SourceFile::parse(name, path.clone(), edited, diags);
    if let Some(f) = &file {
        raw.cluster = super::cluster_file::read(f, diags);
    }
    Ok(raw)
}

fn utc_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// Write `text` to `path` atomically with the old file's mode.
fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    Ok(())
}

/// Apply the change to `DIR/cluster-configuration.yaml`: backup, atomic write, re-load and
/// validate (the machine set must be the old one minus `remove` plus `add`), else the
/// backup is put back and the error says why. `machines` loads and validates a config dir
/// and names its machines; its error is the rendered diagnostics.
pub fn write_back_checked(
    dir: &Path,
    add: &[NewEntry],
    remove: &[String],
    machines: impl Fn(&Path) -> Result<BTreeSet<String>, String>,
) -> Result<Written, String> {
    let path = dir.join(CLUSTER_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut expected = machines(dir).map_err(|d| {
        format!(
            "{} does not validate before the change:\n{d}",
            path.display()
        )
    })?;
    for r in remove {
        expected.remove(r);
    }
    expected.extend(add.iter().map(|a| a.hostname.clone()));
    let edited = edit_text(&text, add, remove).map_err(|e| format!("{}: {e}", path.display()))?;

    let backups = dir.join(".k8s-manage").join("backups");
    std::fs::create_dir_all(&backups)
        .map_err(|e| format!("cannot create {}: {e}", backups.display()))?;
    let mut backup = backups.join(format!("{CLUSTER_FILE}.{}", utc_stamp()));
    let mut n = 1;
    while backup.exists() {
        backup = backups.join(format!("{CLUSTER_FILE}.{}-{n}", utc_stamp()));
        n += 1;
    }
    std::fs::copy(&path, &backup).map_err(|e| {
        format!(
            "cannot back up {} to {}: {e}",
            path.display(),
            backup.display()
        )
    })?;
    write_atomic(&path, &edited)?;

    let check = match machines(dir) {
        Ok(got) => {
            if got == expected {
                Ok(())
            } else {
                Err(format!(
                    "the written file holds machines {got:?}, expected {expected:?}"
                ))
            }
        }
        Err(d) => Err(format!("the written file does not validate:\n{d}")),
    };
    if let Err(e) = check {
        let restored = write_atomic(&path, &text);
        return Err(format!(
            "{e}\n{} was {} from {}",
            path.display(),
            if restored.is_ok() {
                "restored"
            } else {
                "NOT restored"
            },
            backup.display()
        ));
    }
    Ok(Written {
        path,
        backup,
        added: add.iter().map(|a| a.hostname.clone()).collect(),
        removed: remove.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(host: &str, ip: &str) -> NewEntry {
        NewEntry {
            hostname: host.into(),
            fields: vec![
                ("hostname".into(), host.into()),
                ("hostip".into(), ip.into()),
                ("k8s-role".into(), "worker".into()),
            ],
        }
    }

    const LIST: &str = "\
# the cluster
default-machine-properties:
  username: root   # root login
machine-sku: {}
machine-list:
  # first master
  - hostname: m1
    hostip: 10.0.0.1
    k8s-role: master
    etcdid: etcd1
    zkid: \"1\"   # kept

  # workers below
  - hostname: w1
    hostip: 10.0.0.2
    k8s-role: worker
  - hostname: w2
    hostip: 10.0.0.3
    k8s-role: worker
unknown-key: stays   # trailing
";

    #[test]
    fn removes_a_middle_entry_with_its_comment_and_keeps_everything_else() {
        let out = edit_text(LIST, &[], &["w1".into()]).unwrap();
        assert!(
            !out.contains("w1") && !out.contains("workers below"),
            "{out}"
        );
        assert!(out.contains("  - hostname: w2\n"), "{out}");
        assert!(
            out.contains("zkid: \"1\"   # kept\n\n  - hostname: w2"),
            "{out}"
        );
        assert!(out.contains("unknown-key: stays   # trailing"));
        assert!(out.contains("# first master"));
    }

    #[test]
    fn removes_first_and_last_entries() {
        let out = edit_text(LIST, &[], &["m1".into(), "w2".into()]).unwrap();
        assert!(
            !out.contains("m1") && !out.contains("first master"),
            "{out}"
        );
        assert!(!out.contains("w2") && !out.contains("10.0.0.3"), "{out}");
        assert!(out.contains("machine-list:\n  # workers below\n  - hostname: w1\n    hostip: 10.0.0.2\n    k8s-role: worker\nunknown-key: stays"), "{out}");
    }

    #[test]
    fn blank_lines_between_entries_stay_single() {
        let t = "machine-list:\n  - hostname: a\n    k8s-role: master\n\n  - hostname: b\n    k8s-role: worker\n\n  - hostname: c\n    k8s-role: worker\n";
        assert_eq!(
            edit_text(t, &[], &["b".into()]).unwrap(),
            "machine-list:\n  - hostname: a\n    k8s-role: master\n\n  - hostname: c\n    k8s-role: worker\n"
        );
        assert_eq!(
            edit_text(t, &[], &["c".into()]).unwrap(),
            "machine-list:\n  - hostname: a\n    k8s-role: master\n\n  - hostname: b\n    k8s-role: worker\n"
        );
    }

    #[test]
    fn appends_after_the_last_entry_with_the_same_indentation() {
        let out = edit_text(LIST, &[entry("w3", "10.0.0.4")], &[]).unwrap();
        assert!(out.contains("    k8s-role: worker\n  - hostname: w3\n    hostip: 10.0.0.4\n    k8s-role: worker\nunknown-key: stays"), "{out}");
        // the original text is a prefix-preserving subset
        assert_eq!(
            out.replace(
                "  - hostname: w3\n    hostip: 10.0.0.4\n    k8s-role: worker\n",
                ""
            ),
            LIST
        );
    }

    #[test]
    fn add_and_remove_together_and_odd_indentation() {
        let odd = "machine-list:\n-   hostname: a\n    hostip: 10.0.0.1\n    k8s-role: master\n-   hostname: b\n    hostip: 10.0.0.2\n    k8s-role: worker\n";
        let out = edit_text(odd, &[entry("c", "10.0.0.3")], &["b".into()]).unwrap();
        assert_eq!(
            out,
            "machine-list:\n-   hostname: a\n    hostip: 10.0.0.1\n    k8s-role: master\n-   hostname: c\n    hostip: 10.0.0.3\n    k8s-role: worker\n"
        );
        // no trailing newline at the end of the file
        let out = edit_text(odd.trim_end(), &[entry("c", "10.0.0.3")], &[]).unwrap();
        assert!(
            out.ends_with(
                "k8s-role: worker\n-   hostname: c\n    hostip: 10.0.0.3\n    k8s-role: worker\n"
            ),
            "{out:?}"
        );
    }

    #[test]
    fn refuses_unknown_hosts_duplicates_and_flow_lists() {
        assert!(
            edit_text(LIST, &[], &["nope".into()])
                .unwrap_err()
                .contains("nope")
        );
        assert!(
            edit_text(LIST, &[entry("w1", "10.0.0.9")], &[])
                .unwrap_err()
                .contains("w1")
        );
        let flow = "machine-list: [{hostname: a, hostip: 10.0.0.1, k8s-role: master}]\n";
        assert!(
            edit_text(flow, &[], &["a".into()])
                .unwrap_err()
                .contains("block form")
        );
    }

    #[test]
    fn node_list_entries_are_copied_as_written_from_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("l.yaml");
        std::fs::write(
            &list,
            "machine-list:\n    - hostname: n1   # new\n      hostip: \"10.0.0.7\"\n      k8s-role: worker\n      extra:\n        a: 1\n        b: [x, y]\n    - {hostname: n2, hostip: 10.0.0.8, k8s-role: worker}\n",
        )
        .unwrap();
        let e = entries_from_node_list(&list, &["n1".into(), "n2".into()]).unwrap();
        let out = edit_text(LIST, &e, &[]).unwrap();
        assert!(
            out.contains("  - hostname: n1\n    hostip: \"10.0.0.7\"\n    k8s-role: worker\n    extra:\n      a: 1\n      b: [x, y]\n  - hostname: n2\n    hostip: 10.0.0.8\n    k8s-role: worker\nunknown-key"),
            "{out}"
        );
        let map = dir.path().join("m.yaml");
        std::fs::write(
            &map,
            "machinelist:\n  n3:\n    nodename: 10.0.0.9\n    hostip: 10.0.0.9\n    k8s-role: master\n    etcdid: etcd3\n",
        )
        .unwrap();
        let e = entries_from_node_list(&map, &["n3".into()]).unwrap();
        assert_eq!(e[0].fields[0], ("hostname".to_string(), "n3".to_string()));
        let out = edit_text(LIST, &e, &[]).unwrap();
        assert!(out.contains("  - hostname: n3\n    nodename: 10.0.0.9\n    hostip: 10.0.0.9\n    k8s-role: master\n    etcdid: etcd3\nunknown-key"), "{out}");
    }
}
