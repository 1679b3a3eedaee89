//! Property test: whatever the bytes of the config files, validation returns diagnostics
//! and never panics.

mod common;
use common::*;
use k8s_manage::model::build;
use proptest::prelude::*;

const GOOD_CLUSTER: &str = "default-machine-properties:\n  username: root\n  ssh-agent: \"true\"\nmachine-list:\n  - hostname: m1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: e1\n    dashboard: \"true\"\n  - hostname: w1\n    hostip: 10.1.0.21\n    k8s-role: worker\n";

fn mutate(base: &str, ops: &[(usize, u8, u8)]) -> String {
    let mut b: Vec<u8> = base.as_bytes().to_vec();
    for &(pos, kind, byte) in ops {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = pos % b.len();
        match kind % 4 {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            2 => {
                b.remove(i);
            }
            _ => {
                let j = (i + byte as usize) % b.len();
                b.swap(i, j);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_never_panic(ops in proptest::collection::vec((any::<usize>(), any::<u8>(), prop_oneof![Just(b':'), Just(b'-'), Just(b' '), Just(b'\n'), Just(b'['), Just(b'{'), Just(b'"'), Just(b'&'), Just(b'*'), any::<u8>()]), 1..12)) {
        let cluster = mutate(GOOD_CLUSTER, &ops);
        let kube = mutate(K8S_OK, &ops[..ops.len().min(3)]);
        let (_t, dir) = config_dir(&cluster, &kube);
        let _ = build::load(&dir);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let (_t, dir) = config_dir(&text, &text);
        let _ = build::load(&dir);
    }
}
