//! The scale planners: for every database the exact ordered steps up and down (with the
//! in-database commands), and the refusals (below the replication factor, below the mnode
//! or Raft quorum, shard removal, unknown component).

mod databases;
use databases::*;
use k8s_manage::service::databases::{ScaleRequest, planner};
use k8s_manage::service::steps::{Condition, DeleteItem, PodTarget, Step, WaitTarget};

fn example() -> k8s_manage::service::ServicesConfig {
    config_in(&example_dir(), &example_text())
}

/// One line per step; exec steps show every line of their script except the `set -eu`
/// and helper-function lines, so the in-database commands are compared exactly.
fn describe(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Scale { target, replicas } => format!(
                "scale {} {}/{} {replicas}",
                target.kind,
                target.namespace.as_deref().unwrap_or(""),
                target.name
            ),
            Step::Wait(w) => {
                let what = match &w.target {
                    WaitTarget::Object(o) => format!(
                        "{} {}/{}",
                        o.kind,
                        o.namespace.as_deref().unwrap_or(""),
                        o.name
                    ),
                    WaitTarget::Pods {
                        namespace,
                        selector,
                        count,
                    } => format!("pods {namespace}/{selector} x{count}"),
                };
                let cond = match &w.condition {
                    Condition::Ready => "ready".to_string(),
                    Condition::Exists => "exists".to_string(),
                    Condition::Deleted => "deleted".to_string(),
                    Condition::Type(t) => t.clone(),
                };
                format!(
                    "wait {what} {cond} {}s",
                    w.timeout.map(|d| d.as_secs()).unwrap_or(0)
                )
            }
            Step::Exec(e) => {
                let pod = match &e.pod {
                    PodTarget::Name(n) => n.clone(),
                    PodTarget::Selector(s) => s.clone(),
                };
                assert_eq!(e.command[..2], ["sh".to_string(), "-c".to_string()]);
                let body: Vec<&str> = e.command[2]
                    .lines()
                    .filter(|l| {
                        *l != "set -eu"
                            && !l.starts_with("cli() {")
                            && !l.starts_with("taos_sql() {")
                    })
                    .collect();
                format!(
                    "exec {}/{pod}[{}]{}: {}",
                    e.namespace,
                    e.container.as_deref().unwrap_or(""),
                    e.retry
                        .map(|d| format!(" retry {}s", d.as_secs()))
                        .unwrap_or_default(),
                    body.join(" ⏎ ")
                )
            }
            Step::Delete { items } => format!(
                "delete {}",
                items
                    .iter()
                    .map(|i| match i {
                        DeleteItem::Object(o) => format!(
                            "{} {}/{}",
                            o.kind,
                            o.namespace.as_deref().unwrap_or(""),
                            o.name
                        ),
                        DeleteItem::Template(t) => t.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Step::Patch { target, merge } => format!(
                "patch {} {}/{} {merge}",
                target.kind,
                target.namespace.as_deref().unwrap_or(""),
                target.name
            ),
            Step::Apply { templates } => format!("apply {}", templates.join(", ")),
        })
        .collect()
}

fn plan(service: &str, component: Option<&str>, current: u32, target: u32) -> Vec<String> {
    let p = planner(service).expect("a planner");
    let req = ScaleRequest {
        component: component.map(str::to_string),
        current,
        target,
        cluster_domain: "rack.internal".into(),
    };
    match p.scale_plan(&example(), &req) {
        Ok(steps) => describe(&steps),
        Err(r) => panic!("{service} {current}->{target} refused: {r}"),
    }
}

fn refusal(service: &str, component: Option<&str>, current: u32, target: u32) -> String {
    let p = planner(service).expect("a planner");
    let req = ScaleRequest {
        component: component.map(str::to_string),
        current,
        target,
        cluster_domain: "rack.internal".into(),
    };
    match p.scale_plan(&example(), &req) {
        Ok(steps) => panic!(
            "{service} {current}->{target} was planned: {:#?}",
            describe(&steps)
        ),
        Err(r) => {
            assert!(r.fix.is_some(), "a refusal says what to do: {r}");
            r.reason
        }
    }
}

const DN0: &str = "iotdb-datanode-0.iotdb-datanode-headless.iotdb.svc.rack.internal";

#[test]
fn iotdb_datanodes_up() {
    let addr3 = "iotdb-datanode-3.iotdb-datanode-headless.iotdb.svc.rack.internal";
    let addr4 = "iotdb-datanode-4.iotdb-datanode-headless.iotdb.svc.rack.internal";
    let running = |a: &str| {
        format!(
            "exec iotdb/iotdb-datanode-0[datanode] retry 300s: cli \"show datanodes\" | awk -F'|' -v a=\"{a}\" '{{gsub(/ /,\"\",$3); gsub(/ /,\"\",$4)}} $4==a && $3==\"Running\" {{f=1}} END {{exit !f}}'"
        )
    };
    assert_eq!(
        plan("iotdb", None, 3, 5),
        vec![
            "scale StatefulSet iotdb/iotdb-datanode 5".to_string(),
            "wait StatefulSet iotdb/iotdb-datanode ready 600s".to_string(),
            running(addr3),
            running(addr4),
        ]
    );
}

#[test]
fn iotdb_datanodes_down_remove_each_node_first() {
    let steps = plan("iotdb", None, 5, 3);
    let mut expected = Vec::new();
    for i in [4, 3] {
        let a = format!("iotdb-datanode-{i}.iotdb-datanode-headless.iotdb.svc.rack.internal");
        expected.push(format!(
            "exec iotdb/iotdb-datanode-0[datanode]: id=$(cli \"show datanodes\" | awk -F'|' -v a=\"{a}\" '{{gsub(/ /,\"\",$2); gsub(/ /,\"\",$4)}} $4==a {{print $2}}') ⏎ \
             [ -n \"$id\" ] || {{ echo \"{a} is not in 'show datanodes'\" >&2; exit 1; }} ⏎ cli \"remove datanode $id\""
        ));
        expected.push(format!(
            "exec iotdb/iotdb-datanode-0[datanode] retry 1800s: ! cli \"show datanodes\" | grep -F -q \"{a}\""
        ));
        expected.push(format!("scale StatefulSet iotdb/iotdb-datanode {i}"));
        expected.push(format!("wait Pod iotdb/iotdb-datanode-{i} deleted 300s"));
        expected.push(format!(
            "delete PersistentVolumeClaim iotdb/data-iotdb-datanode-{i}"
        ));
    }
    assert_eq!(steps, expected);
}

#[test]
fn iotdb_cli_runs_against_datanode_zero_with_the_password_from_the_pod() {
    let p = planner("iotdb").unwrap();
    let steps = p
        .scale_plan(
            &example(),
            &ScaleRequest {
                component: None,
                current: 4,
                target: 3,
                cluster_domain: "rack.internal".into(),
            },
        )
        .unwrap();
    let Step::Exec(e) = &steps[0] else {
        panic!("first step is not exec")
    };
    assert!(e.command[2].contains(&format!(
        "printf '%s\\n' org.apache.iotdb.cli.Cli -h {DN0} -p 6667 -u root -pw; q \"$IOTDB_ROOT_PASSWORD\"; printf '%s\\n' -e; q \"$1\";"
    )));
    assert!(
        !e.command[2].contains("-pw root"),
        "no password in the command"
    );
}

#[test]
fn iotdb_1_3_uses_the_removal_script() {
    let text = example_text().replace("2.0.5-", "1.3.2-");
    let cfg = config_in(&example_dir(), &text);
    let steps = planner("iotdb")
        .unwrap()
        .scale_plan(
            &cfg,
            &ScaleRequest {
                component: None,
                current: 4,
                target: 3,
                cluster_domain: "rack.internal".into(),
            },
        )
        .unwrap();
    let d = describe(&steps);
    assert!(
        d[0].ends_with("⏎ /iotdb/sbin/remove-datanode.sh \"$id\""),
        "{}",
        d[0]
    );
}

#[test]
fn iotdb_refusals() {
    // schema-replication-factor 3: not below 3 DataNodes (the seed's "error behaviour 2").
    let r = refusal("iotdb", None, 4, 2);
    assert!(r.contains("from 4 to 2") && r.contains("3 replicas"), "{r}");
    assert!(refusal("iotdb", None, 3, 0).contains("at least one DataNode"));
    assert!(refusal("iotdb", Some("confignode"), 3, 2).contains("1 or 3"));
    assert!(refusal("iotdb", Some("configserver"), 3, 1).contains("no component `configserver`"));
}

#[test]
fn iotdb_confignodes_down_keep_the_seed() {
    let d = plan("iotdb", Some("confignode"), 3, 1);
    assert_eq!(d.len(), 10);
    assert!(
        d[0].contains("iotdb-confignode-2.iotdb-confignode-headless")
            && d[0].ends_with("cli \"remove confignode $id\""),
        "{}",
        d[0]
    );
    assert_eq!(d[2], "scale StatefulSet iotdb/iotdb-confignode 2");
    assert!(d[5].contains("iotdb-confignode-1.iotdb-confignode-headless"));
    assert_eq!(d[7], "scale StatefulSet iotdb/iotdb-confignode 1");
    assert_eq!(
        d[9],
        "delete PersistentVolumeClaim iotdb/data-iotdb-confignode-1"
    );
    assert!(
        d.iter().all(|s| !s.contains("iotdb-confignode-0.")),
        "the seed is never removed"
    );
}

const T0: &str = "tdengine-0.taosd.tdengine.svc.rack.internal";

fn ep(i: u32) -> String {
    format!("tdengine-{i}.taosd.tdengine.svc.rack.internal:6030")
}

#[test]
fn tdengine_up() {
    let ready = |i: u32| {
        format!(
            "exec tdengine/tdengine-0[tdengine] retry 600s: taos_sql \"show dnodes\" | awk -F'|' -v e=\"{}\" '{{gsub(/ /,\"\",$2); gsub(/ /,\"\",$5)}} $2==e && $5==\"ready\" {{f=1}} END {{exit !f}}'",
            ep(i)
        )
    };
    assert_eq!(
        plan("tdengine", None, 3, 4),
        vec![
            "scale StatefulSet tdengine/tdengine 4".to_string(),
            "wait StatefulSet tdengine/tdengine ready 900s".to_string(),
            ready(3),
        ]
    );
}

#[test]
fn tdengine_up_from_one_creates_the_missing_mnodes() {
    // Example: mnodes 3, database-replica 3; a 1-dnode start is a smaller config.
    let d = plan("tdengine", None, 1, 3);
    assert_eq!(d.len(), 6, "{d:#?}");
    for (k, i) in [(4, 1), (5, 2)] {
        assert_eq!(
            d[k],
            format!(
                "exec tdengine/tdengine-0[tdengine] retry 120s: id=$(taos_sql \"show dnodes\" | awk -F'|' -v e=\"{e}\" '{{gsub(/ /,\"\",$1); gsub(/ /,\"\",$2)}} $2==e {{print $1}}') ⏎ \
                 [ -n \"$id\" ] || {{ echo \"dnode {e} is not in 'show dnodes'\" >&2; exit 1; }} ⏎ \
                 if taos_sql \"show mnodes\" | grep -F -q \"{e}\"; then exit 0; fi ⏎ taos_sql \"create mnode on dnode $id\"",
                e = ep(i)
            )
        );
    }
}

#[test]
fn tdengine_down_drops_each_dnode_by_id_then_waits() {
    let d = plan("tdengine", None, 5, 3);
    let mut expected = vec![
        "exec tdengine/tdengine-0[tdengine]: r=$(taos_sql \"select max(\\`replica\\`) as r from information_schema.ins_databases\" | awk -F'|' '{gsub(/ /,\"\",$1)} $1 ~ /^[0-9]+$/ {print $1}') ⏎ \
         if [ \"${r:-0}\" -gt 3 ]; then echo \"refusing: a database uses REPLICA $r, more than the 3 dnodes that would remain\" >&2; exit 1; fi".to_string(),
    ];
    for i in [4, 3] {
        let e = ep(i);
        expected.push(format!(
            "exec tdengine/tdengine-0[tdengine]: id=$(taos_sql \"show dnodes\" | awk -F'|' -v e=\"{e}\" '{{gsub(/ /,\"\",$1); gsub(/ /,\"\",$2)}} $2==e {{print $1}}') ⏎ \
             [ -n \"$id\" ] || {{ echo \"dnode {e} is not in 'show dnodes'\" >&2; exit 1; }} ⏎ taos_sql \"drop dnode $id\""
        ));
        expected.push(format!("exec tdengine/tdengine-0[tdengine] retry 1800s: ! taos_sql \"show dnodes\" | grep -F -q \"{e}\""));
        expected.push(format!("scale StatefulSet tdengine/tdengine {i}"));
        expected.push(format!("wait Pod tdengine/tdengine-{i} deleted 300s"));
        expected.push(format!(
            "delete PersistentVolumeClaim tdengine/taosdata-tdengine-{i}, PersistentVolumeClaim tdengine/taoslog-tdengine-{i}"
        ));
    }
    assert_eq!(d, expected);
    let p = planner("tdengine").unwrap();
    let steps = p
        .scale_plan(
            &example(),
            &ScaleRequest {
                component: None,
                current: 4,
                target: 3,
                cluster_domain: "rack.internal".into(),
            },
        )
        .unwrap();
    let Step::Exec(e) = &steps[1] else { panic!() };
    assert!(e.command[2].contains(&format!(
        "printf '%s\\n' \"$TAOS_ROOT_PASSWORD\" | taos -h {T0} -P 6030 -u root -p -s \"$1\""
    )));
}

#[test]
fn tdengine_refusals() {
    let r = refusal("tdengine", None, 3, 2);
    assert!(r.contains("3 mnodes") && r.contains("quorum"), "{r}");
    // mnodes 1 but database-replica 3: the replica count refuses.
    let text = example_text().replace("  mnodes: 3\n", "  mnodes: 1\n");
    let cfg = config_in(&example_dir(), &text);
    let r = planner("tdengine")
        .unwrap()
        .scale_plan(
            &cfg,
            &ScaleRequest {
                component: None,
                current: 3,
                target: 2,
                cluster_domain: "rack.internal".into(),
            },
        )
        .unwrap_err();
    assert!(r.reason.contains("REPLICA 3"), "{r}");
    assert!(refusal("tdengine", None, 3, 0).contains("at least one dnode"));
}

const DDB_LOGIN: &str = "umask 077 ⏎ trap 'rm -f /tmp/k8s-manage.dos' EXIT ⏎ { printf 'login(\"admin\", \"'; sed 's/[\\\\\"]/\\\\&/g' /etc/k8s-manage/dolphindb-admin/password | tr -d '\\n'; printf '\")\\n'; } > /tmp/k8s-manage.dos";
const DDB_RUN: &str =
    "dolphindb -console 0 -remoteHost localhost -remotePort 31210 -run /tmp/k8s-manage.dos";

#[test]
fn dolphindb_up_rebalances() {
    let d = plan("dolphindb", None, 3, 4);
    assert_eq!(
        d,
        vec![
            r#"patch DolphinDB dolphindb/ddb {"spec":{"datanode":{"replicas":4}}}"#.to_string(),
            "wait Pod dolphindb/ddb-ddb-dn-3-0 ready 900s".to_string(),
            format!(
                "exec dolphindb/ddb-ddb-ctr-0-0[dolphindb]: {DDB_LOGIN} ⏎ cat >> /tmp/k8s-manage.dos <<'DOS' ⏎ rpc(getControllerAlias(), rebalanceChunksAmongDataNodes, true) ⏎ DOS ⏎ {DDB_RUN}"
            ),
            format!(
                "exec dolphindb/ddb-ddb-ctr-0-0[dolphindb] retry 3600s: {DDB_LOGIN} ⏎ cat >> /tmp/k8s-manage.dos <<'DOS' ⏎ t = rpc(getControllerAlias(), getRecoveryTaskStatus) ⏎ \
                     if (size(t) > 0 && (exec count(*) from t where Status != \"Finished\")[0] > 0) throw \"recovery tasks are still running\" ⏎ DOS ⏎ {DDB_RUN}"
            ),
        ]
    );
}

#[test]
fn dolphindb_down_moves_chunks_first() {
    let d = plan("dolphindb", None, 4, 3);
    assert_eq!(d.len(), 6, "{d:#?}");
    assert!(
        d[0].contains(
            "src = exec first(name) from perf where mode = 0, host like \"ddb-ddb-dn-3-0%\""
        ),
        "{}",
        d[0]
    );
    assert!(d[0].contains(
        "dests = exec name from perf where mode = 0, name != src, !(host in [\"ddb-ddb-dn-3-0\"])"
    ));
    assert!(d[0].contains("rpc(getControllerAlias(), moveReplicas, src, free[0], c)"));
    assert!(d[1].contains("retry 3600s") && d[1].contains("getRecoveryTaskStatus"));
    assert!(d[2].contains("n = exec count(*) from pnodeRun(getAllChunks) where node = src"));
    assert_eq!(
        d[3],
        r#"patch DolphinDB dolphindb/ddb {"spec":{"datanode":{"replicas":3}}}"#
    );
    assert_eq!(d[4], "wait Pod dolphindb/ddb-ddb-dn-3-0 deleted 600s");
    assert_eq!(
        d[5],
        "delete PersistentVolumeClaim dolphindb/data-ddb-ddb-dn-3-0, PersistentVolumeClaim dolphindb/log-ddb-ddb-dn-3-0"
    );
    // Two at a time: the highest first, chunks never moved onto the other leaving node.
    let d = plan("dolphindb", None, 5, 3);
    assert!(
        d[0].contains("host like \"ddb-ddb-dn-4-0%\"")
            && d[0].contains("!(host in [\"ddb-ddb-dn-3-0\", \"ddb-ddb-dn-4-0\"])")
    );
    assert!(
        d[6].contains("host like \"ddb-ddb-dn-3-0%\"")
            && d[6].contains("!(host in [\"ddb-ddb-dn-3-0\"])")
    );
}

#[test]
fn dolphindb_refusals() {
    let r = refusal("dolphindb", None, 3, 1);
    assert!(r.contains("dfsReplicationFactor is 2"), "{r}");
    assert!(refusal("dolphindb", Some("controller"), 3, 1).contains("no component"));
}

#[test]
fn clickhouse_replicas_up_and_down() {
    let clusters = |r: u32| {
        format!(
            r#"{{"spec":{{"configuration":{{"clusters":[{{"layout":{{"replicasCount":{r},"shardsCount":1}},"name":"main","templates":{{"dataVolumeClaimTemplate":"data","logVolumeClaimTemplate":"log","podTemplate":"clickhouse"}}}}]}}}}}}"#
        )
    };
    let check = |n: u32| {
        format!(
            "exec clickhouse/chi-ch-main-0-0-0[clickhouse] retry 600s: n=$(clickhouse-client --query \"SELECT count() FROM system.clusters WHERE cluster = 'main'\") ⏎ [ \"$n\" = {n} ]"
        )
    };
    assert_eq!(
        plan("clickhouse", None, 2, 3),
        vec![
            format!("patch ClickHouseInstallation clickhouse/ch {}", clusters(3)),
            "wait Pod clickhouse/chi-ch-main-0-2-0 ready 900s".to_string(),
            check(3),
        ]
    );
    assert_eq!(
        plan("clickhouse", None, 3, 1),
        vec![
            format!("patch ClickHouseInstallation clickhouse/ch {}", clusters(1)),
            "wait Pod clickhouse/chi-ch-main-0-2-0 deleted 600s".to_string(),
            "wait Pod clickhouse/chi-ch-main-0-1-0 deleted 600s".to_string(),
            "exec clickhouse/chi-ch-main-0-0-0[clickhouse] retry 300s: clickhouse-client --query \"SYSTEM DROP REPLICA 'chi-ch-main-0-2'\"".to_string(),
            "exec clickhouse/chi-ch-main-0-0-0[clickhouse] retry 300s: clickhouse-client --query \"SYSTEM DROP REPLICA 'chi-ch-main-0-1'\"".to_string(),
            "delete PersistentVolumeClaim clickhouse/data-chi-ch-main-0-2-0, PersistentVolumeClaim clickhouse/log-chi-ch-main-0-2-0, \
             PersistentVolumeClaim clickhouse/data-chi-ch-main-0-1-0, PersistentVolumeClaim clickhouse/log-chi-ch-main-0-1-0".to_string(),
            check(1),
        ]
    );
}

#[test]
fn clickhouse_refusals_and_shards() {
    let text = example_text().replace("  insert-quorum: 1\n", "  insert-quorum: 2\n");
    let cfg = config_in(&example_dir(), &text);
    let r = planner("clickhouse")
        .unwrap()
        .scale_plan(
            &cfg,
            &ScaleRequest {
                component: None,
                current: 2,
                target: 1,
                cluster_domain: "rack.internal".into(),
            },
        )
        .unwrap_err();
    assert!(r.reason.contains("insert-quorum"), "{r}");
    assert!(refusal("clickhouse", Some("shards"), 2, 1).contains("lost"));
    assert!(refusal("clickhouse", None, 2, 0).contains("at least one replica"));
    let d = plan("clickhouse", Some("shards"), 1, 2);
    assert_eq!(d.len(), 4);
    assert_eq!(d[1], "wait Pod clickhouse/chi-ch-main-1-0-0 ready 900s");
    assert_eq!(d[2], "wait Pod clickhouse/chi-ch-main-1-1-0 ready 900s");
}

#[test]
fn same_size_is_nothing_to_do_and_targets_are_named() {
    for s in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
        assert!(plan(s, None, 3, 3).is_empty(), "{s}");
        let t = planner(s).unwrap().scale_target(&example(), None).unwrap();
        assert_eq!(t.namespace.as_deref(), Some(s));
    }
    assert!(planner("webportal").is_none());
}

#[test]
fn invalid_configuration_refuses_to_plan() {
    let cfg = config("iotdb:\n  datanode: {replicas: 2}\n");
    let r = planner("iotdb")
        .unwrap()
        .scale_plan(
            &cfg,
            &ScaleRequest {
                component: None,
                current: 2,
                target: 3,
                cluster_domain: "rack.internal".into(),
            },
        )
        .unwrap_err();
    assert!(r.reason.contains("storage-class"), "{r}");
}

/// Every exec step that logs in to a database, run here under `sh` with fakes of the
/// database CLIs (`taos`, `java`, `dolphindb`) that record their arguments and what they
/// read: the password reaches each of them, never through its arguments (which `ps` and
/// `/proc/<pid>/cmdline` show to everyone on the node).
#[test]
fn database_passwords_never_reach_process_arguments() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    let log = t.path().join("log");
    let secret_dir = t.path().join("ddb-secret");
    for d in [&bin, &log, &secret_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let l = log.display();
    let tools = [
        (
            "taos",
            format!("printf '%s\\n' \"$*\" >> {l}/argv\ncat >> {l}/stdin\n"),
        ),
        (
            "java",
            format!(
                "printf '%s\\n' \"$*\" >> {l}/argv\nfor a; do case $a in @*) cat \"${{a#@}}\" >> {l}/argfile;; esac; done\n"
            ),
        ),
        (
            "dolphindb",
            format!(
                "printf '%s\\n' \"$*\" >> {l}/argv\nwhile [ $# -gt 0 ]; do [ \"$1\" = -run ] && cat \"$2\" >> {l}/runfile; shift; done\n"
            ),
        ),
    ];
    for (name, body) in &tools {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let td_pw = "Td-S3cret\"x\\y";
    let io_pw = "Io S3cret \"q\" \\b";
    let ddb_pw = "Ddb-S3cret\"z\\w";
    std::fs::write(secret_dir.join("password"), format!("{ddb_pw}\n")).unwrap();
    let dos = t.path().join("k8s-manage.dos");
    let exec_scripts = |service: &str| -> Vec<String> {
        let steps = planner(service)
            .unwrap()
            .scale_plan(
                &example(),
                &ScaleRequest {
                    component: None,
                    current: 4,
                    target: 3,
                    cluster_domain: "rack.internal".into(),
                },
            )
            .unwrap();
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Exec(e) => Some(
                    e.command[2]
                        .replace(
                            "/etc/k8s-manage/dolphindb-admin",
                            secret_dir.to_str().unwrap(),
                        )
                        .replace("/tmp/k8s-manage.dos", dos.to_str().unwrap()),
                ),
                _ => None,
            })
            .collect()
    };
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for service in ["tdengine", "iotdb", "dolphindb"] {
        for script in exec_scripts(service) {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .env("PATH", &path)
                .env("TAOS_ROOT_PASSWORD", td_pw)
                .env("IOTDB_ROOT_PASSWORD", io_pw)
                .output()
                .unwrap();
        }
    }
    let read = |f: &str| std::fs::read_to_string(log.join(f)).unwrap_or_default();
    let argv = read("argv");
    for (tool, got) in [
        ("taos", "stdin"),
        ("java", "argfile"),
        ("dolphindb", "runfile"),
    ] {
        assert!(
            argv.lines().any(|l| !l.is_empty()) && !read(got).is_empty(),
            "{tool} was not started, or got no password other than in its arguments: {argv}"
        );
    }
    for pw in [td_pw, io_pw, ddb_pw, "S3cret"] {
        assert!(!argv.contains(pw), "a password in the arguments:\n{argv}");
    }
    // each tool got it another way, intact
    assert!(
        read("stdin").lines().any(|l| l == td_pw),
        "{}",
        read("stdin")
    );
    let argfile = read("argfile");
    assert!(
        argfile.contains("-pw\n\"Io S3cret \\\"q\\\" \\\\b\"\n-e\n\"show datanodes\"\n"),
        "{argfile}"
    );
    assert!(
        argfile.starts_with("org.apache.iotdb.cli.Cli\n-h\n"),
        "{argfile}"
    );
    assert!(
        read("runfile").starts_with("login(\"admin\", \"Ddb-S3cret\\\"z\\\\w\")\n"),
        "{}",
        read("runfile")
    );
    assert!(
        !dos.exists(),
        "the script file with the password is removed"
    );
}

/// A size no rack has is refused before anything is planned (each member is a step: four
/// billion of them would exhaust memory).
#[test]
fn absurd_sizes_are_refused_not_planned() {
    for service in ["iotdb", "tdengine", "dolphindb", "clickhouse"] {
        for (current, target) in [(3, 4_000_000_000), (4_000_000_000, 3), (3, 1001)] {
            let r = refusal(service, None, current, target);
            assert!(r.contains("more than the 1000 members"), "{service}: {r}");
        }
    }
}
