//! `cert rotate`, the control-host part: back up the PKI, reissue the selected leaves (or
//! everything, with new CAs), and decide how the restart can go. Pushing the files and
//! restarting exactly the containers whose files changed is deploy's job: the spec hash
//! covers the content of every file a container reads.

use crate::model::Cluster;
use crate::pki::{Pki, rotation};
use crate::render::node::{NodeArtifacts, pki_request};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// What was done on the control host.
#[derive(Debug)]
pub struct Rotated {
    pub pki: Pki,
    /// Storage names of the leaves issued afresh.
    pub reissued: Vec<String>,
    /// Where the previous PKI files were copied (`None` on a dry run).
    pub backup: Option<PathBuf>,
    /// Certificates of the previous PKI that had already expired.
    pub expired: Vec<String>,
    /// The restart cannot roll: old and new credentials cannot talk to each other (new
    /// CAs), or the old ones no longer work at all (expired), so there is no API to drain
    /// through and etcd peers cannot reach each other until all have new certificates.
    pub all_at_once: bool,
}

/// `DIR/.k8s-manage/backups`.
pub fn backups_dir(cluster: &Cluster) -> PathBuf {
    cluster.state_dir().join("backups")
}

/// Rotate the PKI of `cluster`: `services` empty = every leaf; `new_cas` = new CAs too.
pub fn rotate_pki(
    cluster: &Cluster,
    services: &[String],
    new_cas: bool,
    dry_run: bool,
    now: OffsetDateTime,
) -> Result<Rotated, String> {
    let dir = cluster.state_dir().join("pki");
    if !dir.join("ca.crt").is_file() {
        return Err(format!(
            "no PKI to rotate: {} does not exist (run `k8s-manage deploy` first)",
            dir.join("ca.crt").display()
        ));
    }
    let old = crate::pki::certificates_in(&dir).map_err(|e| e.to_string())?;
    let expired = rotation::expired(&old, now);
    let backup = if dry_run {
        None
    } else {
        Some(backup(&dir, &backups_dir(cluster), now)?)
    };
    let req = pki_request(cluster, now);
    let (pki, reissued) = Pki::rotate(
        &dir,
        &req,
        &|stem| rotation::selected(stem, services),
        new_cas,
        dry_run,
    )
    .map_err(|e| e.to_string())?;
    Ok(Rotated {
        pki,
        reissued,
        backup,
        all_at_once: new_cas || !expired.is_empty(),
        expired,
    })
}

/// Copy every file of the PKI directory to `backups/pki-<UTC time>/` (directories 0700,
/// files 0600). Returns the backup folder.
pub fn backup(pki_dir: &Path, backups: &Path, now: OffsetDateTime) -> Result<PathBuf, String> {
    let stamp = format!(
        "pki-{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut target = backups.join(&stamp);
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = backups.join(format!("{stamp}-{n}"));
    }
    copy_tree(pki_dir, &target).map_err(|e| {
        format!(
            "cannot back up {} to {}: {e}",
            pki_dir.display(),
            target.display()
        )
    })?;
    Ok(target)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(entry.path())?;
            crate::local_file::write_file(&dest, &bytes, 0o600)?;
        }
    }
    Ok(())
}

/// Per node, the containers whose spec hash differs between two renderings (before and
/// after a rotation): exactly what deploy will restart. `(host, container)`, sorted.
pub fn changed_containers(
    before: &[NodeArtifacts],
    after: &[NodeArtifacts],
) -> Vec<(String, String)> {
    let hash = |c: &crate::components::spec::ContainerSpec| {
        c.labels
            .get(crate::components::spec::LABEL_SPEC_HASH)
            .cloned()
    };
    let mut out = Vec::new();
    for a in after {
        let old = before.iter().find(|b| b.hostname == a.hostname);
        for c in &a.containers {
            let was = old.and_then(|o| o.containers.iter().find(|x| x.name == c.name));
            if was.and_then(hash) != hash(c) {
                out.push((a.hostname.clone(), c.name.clone()));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::node::render_node;

    fn cluster(dir: &Path) -> Cluster {
        let mut machines = String::new();
        for (h, ip, role, etcd) in [
            ("m1", "10.0.0.11", "master", Some("etcd1")),
            ("w1", "10.0.0.21", "worker", None),
        ] {
            machines.push_str(&format!(
                "  - hostname: {h}\n    hostip: {ip}\n    k8s-role: {role}\n"
            ));
            if let Some(e) = etcd {
                machines.push_str(&format!("    etcdid: {e}\n"));
            }
        }
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("cluster-configuration.yaml"),
            format!(
                "default-machine-properties:\n  username: root\n  sshport: 22\n  ssh-agent: \"true\"\nmachine-list:\n{machines}"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("kubernetes-configuration.yaml"),
            "kubernetes:\n  kubernetes-version: v1.36.1\n  docker-registry: 10.0.0.5:5000/k8s\n  kubelet-image: 10.0.0.5:5000/k8s/hyperkube:v1.36.1\n",
        )
        .unwrap();
        crate::model::build::load(dir)
            .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
            .cluster
    }

    fn render(c: &Cluster, pki: &Pki) -> Vec<NodeArtifacts> {
        c.machines
            .iter()
            .map(|m| render_node(c, pki, m).unwrap())
            .collect()
    }

    #[test]
    fn a_service_rotation_restarts_exactly_its_containers() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cluster(&tmp.path().join("cfg"));
        let now = OffsetDateTime::now_utc();
        let pki_dir = c.state_dir().join("pki");
        let first = Pki::load_or_create(&pki_dir, &pki_request(&c, now)).unwrap();
        let before = render(&c, &first);

        let r = rotate_pki(&c, &["kube-proxy".into()], false, false, now).unwrap();
        assert_eq!(r.reissued, vec!["clients/kube-proxy".to_string()]);
        assert!(!r.all_at_once && r.expired.is_empty());
        let backup = r.backup.clone().unwrap();
        assert!(backup.join("clients/kube-proxy.crt").is_file());
        assert!(backup.starts_with(c.state_dir().join("backups")));
        let after = render(&c, &r.pki);
        assert_eq!(
            changed_containers(&before, &after),
            vec![
                ("m1".to_string(), "kube-proxy".to_string()),
                ("w1".to_string(), "kube-proxy".to_string())
            ]
        );

        // etcd: the etcd members only (the apiserver's etcd client cert is the apiserver's)
        let before = after;
        let r = rotate_pki(&c, &["etcd".into()], false, false, now).unwrap();
        let after = render(&c, &r.pki);
        assert_eq!(
            changed_containers(&before, &after),
            vec![("m1".to_string(), "etcd".to_string())]
        );

        // a dry run reissues in memory only: the files on disk stay as they are
        let on_disk = std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap();
        let r = rotate_pki(&c, &[], false, true, now).unwrap();
        assert!(r.backup.is_none() && r.reissued.len() > 5);
        assert_eq!(
            std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap(),
            on_disk
        );
    }

    #[test]
    fn new_cas_reissue_everything_and_cannot_roll() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cluster(&tmp.path().join("cfg"));
        let now = OffsetDateTime::now_utc();
        let pki_dir = c.state_dir().join("pki");
        let first = Pki::load_or_create(&pki_dir, &pki_request(&c, now)).unwrap();
        let before = render(&c, &first);
        let sa = std::fs::read_to_string(pki_dir.join("sa.key")).unwrap();
        let r = rotate_pki(&c, &["kube-proxy".into()], true, false, now).unwrap();
        assert!(r.all_at_once);
        assert_ne!(r.pki.ca_cert_pem(), first.ca_cert_pem());
        assert_eq!(std::fs::read_to_string(pki_dir.join("sa.key")).unwrap(), sa);
        let after = render(&c, &r.pki);
        let changed = changed_containers(&before, &after);
        // every container that reads a certificate or kubeconfig: all but cri-dockerd
        let mut users: Vec<(String, String)> = after
            .iter()
            .flat_map(|a| {
                a.containers
                    .iter()
                    .filter(|c| c.name != "cri-dockerd")
                    .map(|c| (a.hostname.clone(), c.name.clone()))
            })
            .collect();
        users.sort();
        assert_eq!(changed, users);
    }

    #[test]
    fn expired_leaves_are_kept_by_deploy_and_make_rotation_all_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cluster(&tmp.path().join("cfg"));
        let now = OffsetDateTime::now_utc();
        let pki_dir = c.state_dir().join("pki");
        let mut req = pki_request(&c, now - time::Duration::days(400));
        req.leaf_validity_days = 30;
        Pki::load_or_create(&pki_dir, &req).unwrap();
        let apiserver = std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap();
        // deploy's loading (the current request) keeps the expired leaves: no silent rotation
        let kept = Pki::load_or_create(&pki_dir, &pki_request(&c, now)).unwrap();
        assert_eq!(
            std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap(),
            apiserver
        );
        assert!(!rotation::expired(&kept.certificates(), now).is_empty());

        let r = rotate_pki(&c, &[], false, false, now).unwrap();
        assert!(r.all_at_once);
        assert!(
            r.expired.contains(&"apiserver".to_string()),
            "{:?}",
            r.expired
        );
        assert!(rotation::expired(&r.pki.certificates(), now).is_empty());
    }
}
