//! The one definition of every action's phases: id (one name, used by the plan, the
//! runners, the report and `maintainconf/<action>.yaml`), title, the roles or scope it
//! applies to, and whether it goes one node at a time. The planner and the runners both
//! walk these lists; `maintainconf/*.yaml` are generated from them (a unit test checks
//! they are equal; `K8S_MANAGE_WRITE_MAINTAINCONF=1 cargo test --lib maintainconf` rewrites
//! them).

use super::Step;
use super::maintainconf::{ActionDef, PhaseDef, Scope, Targets};
use crate::model::{Cluster, Machine, Role};

const ALL: &[Role] = &[Role::Master, Role::Worker, Role::Proxy];
const MASTERS: &[Role] = &[Role::Master];

/// What the plan shows for a phase: per node, or once for the cluster (with the action's
/// name and the listed machines).
#[derive(Debug, Clone, Copy)]
pub enum Describe {
    Node(fn(&Cluster, &Machine) -> Vec<Step>),
    Cluster(fn(&str, &Cluster, &[&Machine]) -> Vec<Step>),
}

/// One phase of an action.
#[derive(Debug, Clone, Copy)]
pub struct PhaseSpec {
    pub id: &'static str,
    pub title: &'static str,
    /// The roles of the nodes it runs on (empty for a cluster phase).
    pub roles: &'static [Role],
    pub scope: Scope,
    /// One node at a time.
    pub serial: bool,
    /// What the plan shows; `None`: a container phase's containers (the component
    /// table), else the shared table by id (`super::steps`).
    pub steps: Option<Describe>,
}

impl PhaseSpec {
    /// The plan's steps of this (node) phase on `m`.
    pub fn node_steps(&self, cluster: &Cluster, m: &Machine) -> Vec<Step> {
        match self.steps {
            Some(Describe::Node(f)) => f(cluster, m),
            Some(Describe::Cluster(_)) => Vec::new(),
            // a container phase: its containers from the component table
            None => match component(self.id) {
                Some(c) => super::steps::containers_named(cluster, m, c.containers),
                None => super::steps::node_steps(self.id, cluster, m),
            },
        }
    }

    /// The plan's steps of this (cluster) phase.
    pub fn cluster_steps(
        &self,
        action: &str,
        cluster: &Cluster,
        targets: &[&Machine],
    ) -> Vec<Step> {
        match self.steps {
            Some(Describe::Cluster(f)) => f(action, cluster, targets),
            Some(Describe::Node(_)) => Vec::new(),
            None => super::steps::cluster_steps(self.id, action, cluster, targets),
        }
    }
}

const fn node(id: &'static str, title: &'static str, roles: &'static [Role]) -> PhaseSpec {
    PhaseSpec {
        id,
        title,
        roles,
        scope: Scope::Node,
        serial: false,
        steps: None,
    }
}

const fn serial(id: &'static str, title: &'static str, roles: &'static [Role]) -> PhaseSpec {
    PhaseSpec {
        serial: true,
        ..node(id, title, roles)
    }
}

const fn cluster(id: &'static str, title: &'static str) -> PhaseSpec {
    PhaseSpec {
        id,
        title,
        roles: &[],
        scope: Scope::Cluster,
        serial: false,
        steps: None,
    }
}

/// One action: its targets and its ordered phases.
#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub action: &'static str,
    /// The comment at the top of `maintainconf/<action>.yaml`.
    pub comment: &'static str,
    pub summary: &'static str,
    pub targets: Targets,
    pub exactly_one: bool,
    pub roles_allowed: &'static [Role],
    pub phases: &'static [PhaseSpec],
}

impl ActionSpec {
    /// The phase with this id.
    pub fn phase(&self, id: &str) -> Option<&'static PhaseSpec> {
        self.phases.iter().find(|p| p.id == id)
    }

    /// The definition as the planner and the YAML carry it.
    pub fn def(&self) -> ActionDef {
        ActionDef {
            action: self.action.into(),
            summary: self.summary.into(),
            targets: self.targets,
            exactly_one: self.exactly_one,
            roles_allowed: self.roles_allowed.to_vec(),
            phases: self
                .phases
                .iter()
                .map(|p| PhaseDef {
                    id: p.id.into(),
                    title: p.title.into(),
                    roles: p.roles.to_vec(),
                    scope: p.scope,
                    serial: p.serial,
                })
                .collect(),
        }
    }
}

// Phases several actions share.
pub const CONNECT: PhaseSpec = node("connect", "connect and gather facts", ALL);
pub const PREFLIGHT: PhaseSpec = node("preflight", "preflight checks", ALL);
pub const FILES: PhaseSpec = node("files", "certificates and configuration files", ALL);
pub const IMAGES: PhaseSpec = node("images", "container images", ALL);
pub const VERSION_SKEW: PhaseSpec = cluster(
    "version-skew",
    "check the version skew - from the running version (state.json, else the running kube-apiserver's image) to the config's, one minor at a time",
);

/// The container phases in the order of the component table
/// ([`COMPONENTS`] below): deploy, upgrade and repair run them.
pub const ETCD: PhaseSpec = node("etcd", "etcd members", MASTERS);
pub const ETCD_HEALTH: PhaseSpec =
    cluster("etcd-health", "wait for etcd quorum and healthy members");
pub const APISERVER: PhaseSpec = node("apiserver", "kube-apiserver", MASTERS);
pub const LOAD_BALANCERS: PhaseSpec = node(
    "load-balancers",
    "API load balancers (local on every node, haproxy on proxy nodes)",
    ALL,
);
pub const CONTROL_PLANE: PhaseSpec = node(
    "control-plane",
    "kube-controller-manager and kube-scheduler",
    MASTERS,
);
pub const NODE_AGENTS: PhaseSpec = node("node-agents", "cri-dockerd, kubelet and kube-proxy", ALL);
pub const ADDONS: PhaseSpec = cluster("addons", "cluster add-ons (RBAC, CoreDNS, CNI, dashboard)");
pub const VERIFY: PhaseSpec = node(
    "verify",
    "verify health endpoints over TLS and node registration",
    ALL,
);
pub const STATE: PhaseSpec = cluster("state", "write state and the admin kubeconfig");

/// What must hold after a component's containers are (re)started, before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Nothing: the next component does not depend on it being up.
    None,
    /// etcd has a quorum and every member answers healthy (all at once: its own phase,
    /// `etcd-health`; rolling: after each master whose etcd changed).
    EtcdHealthy,
    /// The kube-apiserver answers `/readyz` (all at once: every master; rolling: its own,
    /// after a replacement).
    ApiserverReady,
    /// The node is as Ready as before, with a new kubelet heartbeat (rolling only; all at
    /// once, `verify` waits for every node).
    NodeReady,
}

/// One step of the component table.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// The phase that creates or replaces these containers.
    pub phase: &'static PhaseSpec,
    /// The containers, in the order they start.
    pub containers: &'static [&'static str],
    /// The progress line of the phase when it runs on all nodes at once.
    pub progress: &'static str,
    /// What must hold afterwards.
    pub gate: Gate,
    /// Rolling: stop the old container, wait this long (the load balancers mark it down),
    /// then start the new one.
    pub pause_secs: u64,
}

impl Component {
    /// Whether it runs on a node of this role.
    pub fn on(&self, role: Role) -> bool {
        self.phase.roles.contains(&role)
    }
}

/// The one ordered component table: all at once, rolling and repair go through it.
pub const COMPONENTS: [Component; 5] = [
    Component {
        phase: &ETCD,
        containers: &["etcd"],
        progress: "etcd",
        gate: Gate::EtcdHealthy,
        pause_secs: 0,
    },
    Component {
        phase: &APISERVER,
        containers: &["kube-apiserver"],
        progress: "kube-apiserver",
        gate: Gate::ApiserverReady,
        pause_secs: 4,
    },
    Component {
        phase: &LOAD_BALANCERS,
        containers: &[
            crate::components::load_balancers::LOCAL_LB,
            crate::components::load_balancers::PROXY_LB,
        ],
        progress: "API load balancers",
        gate: Gate::None,
        pause_secs: 0,
    },
    Component {
        phase: &CONTROL_PLANE,
        containers: &["kube-controller-manager", "kube-scheduler"],
        progress: "kube-controller-manager and kube-scheduler",
        gate: Gate::None,
        pause_secs: 0,
    },
    Component {
        phase: &NODE_AGENTS,
        containers: &["cri-dockerd", "kubelet", "kube-proxy"],
        progress: "cri-dockerd, kubelet and kube-proxy",
        gate: Gate::NodeReady,
        pause_secs: 0,
    },
];

/// The component a container phase creates.
pub fn component(phase: &str) -> Option<&'static Component> {
    COMPONENTS.iter().find(|c| c.phase.id == phase)
}

/// `cert rotate`'s own phase, before deploy's.
pub const REISSUE: PhaseSpec = cluster(
    "reissue",
    "back up the PKI (DIR/.k8s-manage/backups/pki-<UTC time>) and reissue the selected certificates from it (new CAs too with --ca)",
);

/// Deploy's phases from `preflight` on, after the ones an action puts first: deploy,
/// upgrade and cert rotate share them, so that they cannot drift apart.
macro_rules! deploy_phases {
    ($($first:expr),+) => {
        &[
            $($first,)+
            PREFLIGHT,
            FILES,
            IMAGES,
            ETCD,
            ETCD_HEALTH,
            APISERVER,
            LOAD_BALANCERS,
            CONTROL_PLANE,
            NODE_AGENTS,
            ADDONS,
            VERIFY,
            STATE,
        ]
    };
}

pub const DEPLOY: ActionSpec = ActionSpec {
    action: "deploy",
    comment: "What `deploy` does, phase by phase, and on which roles.",
    summary: "Turn the machines of the config dir into a secure, highly available cluster; a re-run changes nothing.",
    targets: Targets::All,
    exactly_one: false,
    roles_allowed: &[],
    phases: deploy_phases![CONNECT],
};

pub const UPGRADE: ActionSpec = ActionSpec {
    action: "upgrade",
    comment: "What `upgrade` does: deploy's phases after a version skew check, always rolling\n(masters one at a time, then the other nodes in batches of --max-unavailable).",
    summary: "Move a running cluster to the config's kubernetes-version, one node at a time.",
    targets: Targets::All,
    exactly_one: false,
    roles_allowed: &[],
    phases: deploy_phases![CONNECT, VERSION_SKEW],
};

pub const CERT_ROTATE: ActionSpec = ActionSpec {
    action: "cert-rotate",
    comment: "What `cert rotate` does: the PKI is backed up and the selected certificates reissued on\nthe control host, then deploy's phases push the new files and restart exactly the containers\nwhose files changed: rolling while the old certificates still work, all at once (no drain)\nwith new CAs (--ca) or when certificates had already expired.",
    summary: "Reissue the cluster's certificates and restart what uses them.",
    targets: Targets::All,
    exactly_one: false,
    roles_allowed: &[],
    phases: deploy_phases![REISSUE, CONNECT],
};

pub const REPAIR: ActionSpec = ActionSpec {
    action: "repair",
    comment: "What `repair -f NODES` does: bring each listed node back to its desired state. Healthy\ncontainers are left running (a master's etcd and apiserver are never stopped first); missing,\nstopped, unhealthy or different ones are re-created, in the order of the component table.\nNo add-ons, no state; verify looks at the listed nodes only.",
    summary: "Re-create missing or unhealthy containers and re-send missing files.",
    targets: Targets::Listed,
    exactly_one: false,
    roles_allowed: &[],
    phases: &[
        CONNECT,
        PREFLIGHT,
        node("files", "re-send missing or changed files", ALL),
        IMAGES,
        ETCD,
        ETCD_HEALTH,
        APISERVER,
        LOAD_BALANCERS,
        CONTROL_PLANE,
        NODE_AGENTS,
        node(
            "verify",
            "verify health endpoints and node registration",
            ALL,
        ),
    ],
};

pub const ADD: ActionSpec = ActionSpec {
    action: "add",
    comment: "What `add -f NODES` does, in this order: nothing changes before every new node answers and\npasses preflight and etcd would take the first new master; masters join etcd one at a time\n(each written to cluster-configuration.yaml as soon as it is a member); then the new nodes\nare deployed, and when masters joined, the other nodes' load balancers and the existing\nmasters (one at a time) learn the new apiservers. Existing nodes change only what they must.",
    summary: "Join the listed machines to the cluster.",
    targets: Targets::Listed,
    exactly_one: false,
    roles_allowed: &[],
    phases: &[
        node(
            "connect",
            "certificates for the new machines from the existing CA; connect to them",
            ALL,
        ),
        PREFLIGHT,
        cluster(
            "quorum-check",
            "check by etcd's rules that the first new master can join now (each later one is checked again before it joins)",
        ),
        cluster(
            "snapshot",
            "etcd snapshot before a membership change (only when masters join)",
        ),
        serial(
            "etcd-join",
            "each new master joins etcd, one at a time - its files and etcd image, added as a learner through the leader (a voting member where etcd < 3.4), started, caught up (bounded), promoted, every member healthy, then written to cluster-configuration.yaml (backup kept) before the next",
            MASTERS,
        ),
        PhaseSpec {
            steps: Some(Describe::Node(super::steps::deploy_onto)),
            ..node(
                "deploy-new",
                "deploy the new nodes: files, images, their control plane (masters), load balancers and node agents, registration and health; existing nodes unchanged",
                ALL,
            )
        },
        cluster(
            "lb-backends",
            "when masters join: the load balancers of the other workers and proxies get the new apiservers as backends",
        ),
        PhaseSpec {
            steps: Some(Describe::Cluster(super::steps::roll_masters)),
            ..cluster(
                "roll-masters",
                "when masters join: the merged cluster deployed, rolling the existing masters one at a time (--etcd-servers, apiserver certificate, load balancers)",
            )
        },
        cluster(
            "config-update",
            "add the machines not written yet (workers, proxies) to cluster-configuration.yaml (backup kept)",
        ),
    ],
};

pub const REMOVE: ActionSpec = ActionSpec {
    action: "remove",
    comment: "What `remove -f NODES` does, in this order: the node is drained; a master leaves etcd\n(refused if quorum would be lost; snapshot first); the config is written back; masters\nleave every load balancer; the host is cleaned, then its Node object deleted (after the\nkubelet is gone, so it cannot register again).",
    summary: "Take the listed machines out of the cluster and clean them.",
    targets: Targets::Listed,
    exactly_one: false,
    roles_allowed: &[],
    phases: &[
        node("connect", "connect (unreachable hosts need --force)", ALL),
        cluster(
            "quorum-check",
            "check by etcd's rules that each removal commits and leaves a quorum (learners do not count)",
        ),
        node("drain", "cordon and drain (bounded)", ALL),
        cluster(
            "snapshot",
            "etcd snapshot before a membership change (only when masters leave)",
        ),
        serial(
            "etcd-leave",
            "remove the etcd member by exact member id, through the leader",
            MASTERS,
        ),
        cluster(
            "config-update",
            "drop the machines from cluster-configuration.yaml (backup kept)",
        ),
        cluster(
            "lb-backends",
            "take removed apiservers out of every load balancer",
        ),
        node("stop-containers", "stop and remove our containers", ALL),
        node(
            "remove-dirs",
            "unmount busy mounts and remove our directories",
            ALL,
        ),
        node("delete-node", "delete the Node object", ALL),
    ],
};

pub const ETCDFIX: ActionSpec = ActionSpec {
    action: "etcdfix",
    comment: "What `etcdfix -f NODE` does: rebuild one failed etcd member (exactly one master).\nNothing changes before the quorum check and the snapshot; the old data is moved aside.",
    summary: "Rebuild one failed etcd member from the healthy rest of the cluster.",
    targets: Targets::Listed,
    exactly_one: true,
    roles_allowed: MASTERS,
    phases: &[
        cluster(
            "quorum-check",
            "check by etcd's rules that the member can be removed and added back - the others are a quorum (else stop and point to snapshot restore) and all answer",
        ),
        node("connect", "connect", MASTERS),
        cluster(
            "snapshot",
            "snapshot auto-etcdfix-<UTC time> from a healthy member, kept on the control host and every master",
        ),
        node(
            "etcd-stop-wipe",
            "stop the broken member and move its data dir's contents aside (kept)",
            MASTERS,
        ),
        cluster(
            "etcd-replace",
            "remove the member by exact id and add it back through the leader, as a learner where etcd has them",
        ),
        node(
            "etcd-rejoin",
            "start it with --initial-cluster-state existing and the live member list",
            MASTERS,
        ),
        cluster(
            "etcd-wait",
            "wait until the member has caught up (bounded), promote a learner, wait until every member is healthy",
        ),
    ],
};

pub const CLEAN: ActionSpec = ActionSpec {
    action: "clean",
    comment: "What `clean` does: takes an etcd snapshot, then removes every container the tool made and\nevery directory it owns, on every node. Asks for confirmation unless --yes.",
    summary: "Remove the cluster from every node, leaving nothing of ours behind.",
    targets: Targets::All,
    exactly_one: false,
    roles_allowed: &[],
    phases: &[
        node(
            "connect",
            "connect (every node must answer; nothing changes before)",
            ALL,
        ),
        cluster(
            "snapshot",
            "etcd snapshot auto-clean-<UTC time> kept on the control host (not with --no-snapshot, nor when never deployed)",
        ),
        node(
            "stop-containers",
            "stop and remove our containers (by label) and the pods' containers",
            ALL,
        ),
        node(
            "remove-dirs",
            "unmount busy mounts and remove our directories",
            ALL,
        ),
        cluster(
            "forget-state",
            "forget the cluster state on the control host (the PKI is kept)",
        ),
    ],
};

pub const RESTORE: ActionSpec = ActionSpec {
    action: "restore",
    comment: "What `etcd snapshot restore --name NAME` does: the answer to lost quorum. Nothing changes on\nthe masters before the snapshot's checksum is right and every master holds a checked copy;\neach master's old data is moved aside (kept); etcd starts from the snapshot on every master,\nthen the control plane comes back. Everything written after the snapshot is lost.",
    summary: "Restore an etcd snapshot on every master and bring the control plane back.",
    targets: Targets::All,
    exactly_one: false,
    roles_allowed: &[],
    phases: &[
        cluster(
            "snapshot-check",
            "check the snapshot on the control host against the sha256 recorded when it was taken",
        ),
        node("connect", "connect", MASTERS),
        node(
            "snapshot-copy",
            "make sure every master holds a copy with that sha256 (copied where missing or different)",
            MASTERS,
        ),
        cluster(
            "snapshot",
            "snapshot auto-restore-<UTC time> of the current state first, when an etcd member still answers",
        ),
        node(
            "stop",
            "stop kube-apiserver, kube-controller-manager and kube-scheduler, then etcd, on every master",
            MASTERS,
        ),
        node(
            "move-aside",
            "move the etcd data dir's contents aside to <dir>.before-restore-<UTC time> (kept)",
            MASTERS,
        ),
        node(
            "restore",
            "restore the snapshot inside the etcd image (etcdutl, or etcdctl on 3.4) with the member's name, peer URL, every master and the cluster token",
            MASTERS,
        ),
        node("etcd-start", "start etcd on every master", MASTERS),
        ETCD_HEALTH,
        node(
            "repair",
            "bring the control plane back: repair on every node (stopped containers started again, /readyz, nodes Ready)",
            ALL,
        ),
    ],
};

/// Every action, in the order `plan` lists them.
pub const ACTIONS: &[ActionSpec] = &[
    DEPLOY,
    UPGRADE,
    CERT_ROTATE,
    CLEAN,
    ADD,
    REMOVE,
    REPAIR,
    ETCDFIX,
    RESTORE,
];

/// The action named `name`.
pub fn action(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.action == name)
}

/// The definition of an action, in the shape of `maintainconf/<action>.yaml`.
pub fn definition(action_name: &str) -> Result<ActionDef, String> {
    action(action_name)
        .map(ActionSpec::def)
        .ok_or_else(|| format!("no definition for action `{action_name}`"))
}

/// `maintainconf/<action>.yaml` as generated from the definition.
pub fn maintainconf_yaml(a: &ActionSpec) -> String {
    let mut s = String::new();
    for line in a.comment.lines() {
        s.push_str(&format!("# {line}\n"));
    }
    s.push_str(&format!(
        "# Generated from src/plan/phases.rs (the one definition the planner and the runners\n\
         # walk); `k8s-manage plan -p DIR {}` shows the result for a config dir.\n\
         # scope: node = once per node of the listed roles; cluster = once for the whole cluster.\n\
         # serial: true = one node at a time, otherwise all nodes concurrently.\n",
        a.action
    ));
    s.push_str(&format!("action: {}\n", a.action));
    s.push_str(&format!("summary: {}\n", scalar(a.summary)));
    if a.targets == Targets::Listed {
        s.push_str("targets: listed\n");
    }
    if a.exactly_one {
        s.push_str("exactly-one: true\n");
    }
    if !a.roles_allowed.is_empty() {
        s.push_str(&format!("roles-allowed: {}\n", roles(a.roles_allowed)));
    }
    s.push_str("phases:\n");
    for p in a.phases {
        s.push_str(&format!(
            "  - id: {}\n    title: {}\n",
            p.id,
            scalar(p.title)
        ));
        if !p.roles.is_empty() {
            s.push_str(&format!("    roles: {}\n", roles(p.roles)));
        }
        if p.scope == Scope::Cluster {
            s.push_str("    scope: cluster\n");
        }
        if p.serial {
            s.push_str("    serial: true\n");
        }
    }
    s
}

/// A plain YAML scalar, or a double-quoted one where plain would read otherwise.
fn scalar(text: &str) -> String {
    let plain = !text.contains(": ")
        && !text.contains(" #")
        && !text.starts_with(|c: char| "[]{}&*!|>'\"%@`#,?:-".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn roles(r: &[Role]) -> String {
    format!(
        "[{}]",
        r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintainconf_files_are_generated_from_the_definitions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("maintainconf");
        let write = std::env::var_os("K8S_MANAGE_WRITE_MAINTAINCONF").is_some();
        for a in ACTIONS {
            let want = maintainconf_yaml(a);
            let path = dir.join(format!("{}.yaml", a.action));
            if write {
                std::fs::write(&path, &want).unwrap();
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(
                have, want,
                "maintainconf/{}.yaml differs from src/plan/phases.rs: run \
                 `K8S_MANAGE_WRITE_MAINTAINCONF=1 cargo test --lib maintainconf`",
                a.action
            );
            // and the YAML reads back to the same definition
            let parsed = super::super::maintainconf::parse(a.action, &have).unwrap();
            assert_eq!(parsed, a.def(), "{}", a.action);
        }
    }

    #[test]
    fn ids_are_unique_within_an_action_and_node_phases_name_roles() {
        for a in ACTIONS {
            let mut seen = std::collections::BTreeSet::new();
            for p in a.phases {
                assert!(seen.insert(p.id), "{}: phase {} twice", a.action, p.id);
                assert_eq!(
                    p.scope == Scope::Node,
                    !p.roles.is_empty(),
                    "{}: {}",
                    a.action,
                    p.id
                );
            }
        }
    }
}
