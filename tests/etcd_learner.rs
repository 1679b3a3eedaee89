//! The learner path of `add`, against the real etcd (Debian's 3.4) on loopback with the
//! product's PKI and rendered etcd flags, no nodes: a 1-member cluster takes a learner and
//! keeps its quorum while the learner is not running; etcd refuses a second learner as the
//! tool's rule does; the learner started with `--initial-cluster-state=existing` answers the
//! health check as a learner, catches up and is promoted; then with that member stopped,
//! etcd and the tool both refuse the next addition.

mod common;
#[path = "common/procs.rs"]
mod procs;
use common::*;
use k8s_manage::components::etcd::{self as etcd_component, BootstrapState, EtcdBootstrap};
use k8s_manage::etcd::members::{self, Join};
use k8s_manage::etcd::{EtcdCredentials, check, wait_healthy};
use k8s_manage::model::build;
use k8s_manage::pki::Pki;
use k8s_manage::render::node::{self, NodeArtifacts};
use procs::*;
use std::path::Path;
use std::time::Duration;

/// The member's flags with its paths under `root` and its ports replaced.
fn localize(args: &[String], root: &Path, ports: &[(String, String)]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let mut a = a.replace(
                "/etc/kubernetes",
                &root.join("etc/kubernetes").display().to_string(),
            );
            a = a.replace(
                "/var/lib/etcd",
                &root.join("etcd-data").display().to_string(),
            );
            for (from, to) in ports {
                a = a.replace(from, to);
            }
            a
        })
        .collect()
}

fn write_files(a: &NodeArtifacts, root: &Path) {
    for f in &a.files {
        k8s_manage::local_file::write_file(
            &root.join(f.path.trim_start_matches('/')),
            f.contents.as_bytes(),
            f.mode,
        )
        .unwrap();
    }
}

fn file(a: &NodeArtifacts, p: &str) -> String {
    a.files
        .iter()
        .find(|f| f.path == p)
        .unwrap()
        .contents
        .clone()
}

#[test]
fn a_learner_joins_a_single_member_cluster_without_touching_its_quorum() {
    let cluster_yaml = cluster_yaml(&[
        machine("master-1", "127.0.0.1", "master", Some("etcd1")),
        machine("master-2", "127.0.0.2", "master", Some("etcd2")),
    ]);
    let k8s = "kubernetes:\n  kubernetes-version: v1.36.1\n  etcd-version: 3.4.23\n  docker-registry: r:5000\n";
    let (t, dir) = config_dir(&cluster_yaml, k8s);
    let c = build::load(&dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    let pki = Pki::load_or_create(
        &c.state_dir().join("pki"),
        &node::pki_request(&c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let (m1, m2) = (&c.machines[0], &c.machines[1]);
    let a1 = node::render_node(&c, &pki, m1).unwrap();
    let a2 = node::render_node(&c, &pki, m2).unwrap();
    let (r1, r2) = (t.path().join("n1"), t.path().join("n2"));
    write_files(&a1, &r1);
    write_files(&a2, &r2);
    // every URL of both members on its own free port (etcd2's loopback listener too)
    let port = |ip: &str, p: u16| (format!("{ip}:{p}"), format!("{ip}:{}", free_port()));
    let ports1 = vec![port("127.0.0.1", 2379), port("127.0.0.1", 2380)];
    let ports2 = vec![
        port("127.0.0.2", 2379),
        port("127.0.0.2", 2380),
        port("127.0.0.1", 2379),
    ];
    let public: Vec<(String, String)> = ports1.iter().chain(&ports2[..2]).cloned().collect();
    let url = |u: String| {
        public
            .iter()
            .fold(u, |u, (from, to)| u.replace(from.as_str(), to))
    };
    let (client1, _peer1) = (
        url(etcd_component::client_url(m1)),
        url(etcd_component::peer_url(m1)),
    );
    let (client2, peer2) = (
        url(etcd_component::client_url(m2)),
        url(etcd_component::peer_url(m2)),
    );
    let cred = EtcdCredentials {
        ca_pem: file(&a1, "/etc/kubernetes/pki/etcd/ca.crt"),
        cert_pem: file(&a1, "/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
        key_pem: file(&a1, "/etc/kubernetes/pki/etcd/healthcheck-client.key"),
    };
    let log = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();

    // the single master, as a new 1-member cluster
    let boot1 = EtcdBootstrap {
        state: BootstrapState::New,
        members: vec![("etcd1".into(), etcd_component::peer_url(m1))],
    };
    let spec1 = etcd_component::container(&c, m1, &boot1);
    let _etcd1 = spawn(
        "etcd1",
        Path::new("/usr/bin/etcd"),
        &localize(&spec1.args, &r1, &ports1),
        &[],
        &t.path().join("etcd1.log"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(wait_healthy(
        std::slice::from_ref(&client1),
        &cred,
        Duration::from_secs(30),
    ))
    .unwrap_or_else(|h| panic!("etcd1: {}\n{}", h.problems(), log("etcd1.log")));

    let endpoints = vec![client1.clone()];
    rt.block_on(async {
        let mut leader = members::connect_leader(&endpoints, &cred, Duration::from_secs(10))
            .await
            .unwrap();
        let version = leader.version().unwrap().to_string();
        assert!(version.starts_with("3.4."), "{version}");
        assert!(members::supports_learners(&version));
        let list = leader.members().await.unwrap();
        let health = members::member_health(&list, &cred).await;
        let started = |m: &members::Member| members::is_started(m, &health);
        assert_eq!(
            members::plan_join(&list, &started, None, true),
            Ok(Join::Add {
                learner: true,
                pauses_quorum: false
            })
        );

        // the learner is in, not running yet: the 1-member cluster still commits writes
        let (learner, list) = leader.add_learner(&peer2).await.unwrap();
        assert!(learner.is_learner);
        assert_eq!(list.len(), 2);
        let mut kv = k8s_manage_client(&client1, &cred).await;
        kv.put("/learner-test/written-while-joining", "yes", None)
            .await
            .unwrap_or_else(|e| panic!("the quorum depended on the learner: {e}"));

        // a second learner: etcd refuses it, and so does the tool's rule
        let other = "https://127.0.0.3:2380";
        let e = leader.add_learner(other).await.unwrap_err();
        assert!(e.contains("too many learner"), "{e}");
        let health = members::member_health(&list, &cred).await;
        let started = |m: &members::Member| members::is_started(m, &health);
        let refused = members::plan_join(&list, &started, None, true).unwrap_err();
        assert!(refused.to_string().contains("one at a time"), "{refused}");

        // started with the live member list, like `add` starts it
        let boot2 = EtcdBootstrap {
            state: BootstrapState::Existing,
            members: members::initial_cluster(&list, Some(("etcd2", &peer2))),
        };
        let spec2 = etcd_component::container(&c, m2, &boot2);
        let args2: Vec<String> = localize(&spec2.args, &r2, &ports2)
            .into_iter()
            // the rendered list names the config's ports; the live list is what counts
            .map(|a| {
                if a.starts_with("--initial-cluster=") {
                    format!(
                        "--initial-cluster={}",
                        boot2
                            .members
                            .iter()
                            .map(|(n, u)| format!("{n}={}", url(u.clone())))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                } else {
                    a
                }
            })
            .collect();
        let etcd2 = spawn(
            "etcd2",
            Path::new("/usr/bin/etcd"),
            &args2,
            &[],
            &t.path().join("etcd2.log"),
        );

        let index =
            members::wait_caught_up(&client2, &leader.endpoint, &cred, Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", log("etcd2.log")));
        assert!(index > 0);
        // it answers the health check as a learner (no member list: etcd 3.4 refuses it)
        let h = check(
            std::slice::from_ref(&client2),
            &cred,
            Duration::from_secs(5),
        )
        .await;
        assert!(h.members[0].healthy && h.members[0].is_learner, "{h:?}");

        let (after, _refusals) =
            members::promote_when_ready(&mut leader, &learner, Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", log("etcd2.log")));
        assert_eq!(after.len(), 2);
        assert!(after.iter().all(|m| !m.is_learner), "{after:?}");
        let both = vec![client1.clone(), client2.clone()];
        let h = wait_healthy(&both, &cred, Duration::from_secs(30))
            .await
            .unwrap_or_else(|h| panic!("{}", h.problems()));
        assert!(h.members.iter().all(|m| !m.is_learner));
        let mut kv2 = k8s_manage_client(&client2, &cred).await;
        let got = kv2
            .get("/learner-test/written-while-joining", None)
            .await
            .unwrap();
        assert_eq!(got.kvs()[0].value(), b"yes");

        // 2 members, one stopped: the tool refuses the next addition, as etcd does
        drop(etcd2);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let list = leader.members().await.unwrap();
        let health = members::member_health(&list, &cred).await;
        let started = |m: &members::Member| members::is_started(m, &health);
        let refused = members::plan_join(&list, &started, None, true).unwrap_err();
        assert!(refused.lost_quorum(), "{refused}");
        let e = leader.add_learner(other).await.unwrap_err();
        eprintln!("etcd's answer to a learner add with 1 of 2 members started: {e}");
    });
}

async fn k8s_manage_client(endpoint: &str, cred: &EtcdCredentials) -> etcd_client::Client {
    let tls = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(&cred.ca_pem))
        .identity(etcd_client::Identity::from_pem(
            &cred.cert_pem,
            &cred.key_pem,
        ));
    etcd_client::Client::connect(
        [endpoint],
        Some(
            etcd_client::ConnectOptions::new()
                .with_tls(tls)
                .with_timeout(Duration::from_secs(10)),
        ),
    )
    .await
    .unwrap()
}
