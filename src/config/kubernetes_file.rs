//! `kubernetes-configuration.yaml`: the `kubernetes:` section, kept as located scalars;
//! the model interprets and validates them.

use super::raw::{RawChecksumPin, RawKubernetes};
use super::reader::{Located, mapping, text};
use super::source::SourceFile;
use super::yaml_tree::Kind;
use crate::diag::{Diagnostic, Diagnostics};

pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> RawKubernetes {
    let mut out = RawKubernetes::default();
    let Some(section) = file.root.get("kubernetes") else {
        diags.push(
            Diagnostic::error(file.at_file(), "the `kubernetes:` section is missing")
                .fix("start the file with `kubernetes:` and indent its keys under it"),
        );
        return out;
    };
    out.at = Some(file.at(section.pos));
    let Some(map) = mapping(file, section, "`kubernetes`", diags) else {
        return out;
    };
    for (k, v) in map.entries() {
        let Some(key) = k.key_text() else { continue };
        match key.as_str() {
            "images" => {
                if let Some(imgs) = mapping(file, v, "`kubernetes.images`", diags) {
                    for (ik, iv) in imgs.entries() {
                        let name = ik.key_text().unwrap_or_default();
                        if let Some(t) = text(file, iv, &name, diags) {
                            out.images.insert(name, t);
                        }
                    }
                }
            }
            "extra-args" => {
                if let Some(comps) = mapping(file, v, "`kubernetes.extra-args`", diags) {
                    for (ck, cv) in comps.entries() {
                        let comp = ck.key_text().unwrap_or_default();
                        let at = file.at(ck.pos);
                        let mut flags = Vec::new();
                        if let Some(fm) = mapping(file, cv, &format!("`extra-args.{comp}`"), diags)
                        {
                            for (fk, fv) in fm.entries() {
                                let flag = fk.key_text().unwrap_or_default();
                                if let Some(t) = text(file, fv, &flag, diags) {
                                    flags.push((
                                        crate::config::reader::Located::new(flag, file.at(fk.pos)),
                                        t,
                                    ));
                                }
                            }
                        }
                        out.extra_args
                            .push((crate::config::reader::Located::new(comp, at), flags));
                    }
                }
            }
            "kubelet-config" => {
                if let Some(fields) = mapping(file, v, "`kubernetes.kubelet-config`", diags) {
                    let mut out_fields = Vec::new();
                    for (fk, fv) in fields.entries() {
                        let field = fk.key_text().unwrap_or_default();
                        out_fields.push((
                            crate::config::reader::Located::new(field, file.at(fk.pos)),
                            fv.to_json(&file.text),
                        ));
                    }
                    out.kubelet_config = Some(out_fields);
                }
            }
            "node-agent-checksums" => read_checksum_pins(file, v, &mut out, diags),
            "cluster-dns" => match &v.kind {
                Kind::Seq(items) => {
                    for it in items {
                        if let Some(t) = text(file, it, "cluster-dns", diags) {
                            out.cluster_dns.push(t);
                        }
                    }
                }
                _ => {
                    if let Some(t) = text(file, v, "cluster-dns", diags) {
                        out.cluster_dns.push(t);
                    }
                }
            },
            _ => {
                if let Some(t) = text(file, v, &key, diags) {
                    out.scalars.insert(key, t);
                }
            }
        }
    }
    out
}

/// `node-agent-checksums: {artifact: {version: {arch: sha256}}}`: every leaf, located.
fn read_checksum_pins(
    file: &SourceFile,
    node: &super::yaml_tree::Node,
    out: &mut RawKubernetes,
    diags: &mut Diagnostics,
) {
    let what = "`kubernetes.node-agent-checksums`";
    let Some(artifacts) = mapping(file, node, what, diags) else {
        return;
    };
    for (ak, av) in artifacts.entries() {
        let artifact = Located::new(ak.key_text().unwrap_or_default(), file.at(ak.pos));
        let what = format!("`node-agent-checksums.{}`", artifact.value);
        let Some(versions) = mapping(file, av, &what, diags) else {
            continue;
        };
        for (vk, vv) in versions.entries() {
            let version = Located::new(vk.key_text().unwrap_or_default(), file.at(vk.pos));
            let what = format!(
                "`node-agent-checksums.{}.{}`",
                artifact.value, version.value
            );
            let Some(arches) = mapping(file, vv, &what, diags) else {
                continue;
            };
            for (xk, xv) in arches.entries() {
                let arch = Located::new(xk.key_text().unwrap_or_default(), file.at(xk.pos));
                if let Some(sha256) = text(file, xv, &arch.value, diags) {
                    out.node_agent_checksums.push(RawChecksumPin {
                        artifact: artifact.clone(),
                        version: version.clone(),
                        arch,
                        sha256,
                    });
                }
            }
        }
    }
}
