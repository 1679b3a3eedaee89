//! The plan as text for a terminal: phases in order, nodes under each, one step a line.

use super::Plan;
use std::fmt::Write;

pub fn render(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} plan for cluster \"{}\" (Kubernetes {})",
        plan.action, plan.cluster, plan.kubernetes_version
    );
    let _ = writeln!(s, "{}", plan.summary);
    let _ = writeln!(s, "targets: {}", plan.targets.join(", "));
    let _ = writeln!(s, "observed state: {}", plan.observed);
    let total = plan.phases.len();
    for (i, p) in plan.phases.iter().enumerate() {
        let order = if p.serial {
            " (one node at a time)"
        } else {
            ""
        };
        let _ = writeln!(s, "\nphase {}/{total}: {}{order}", i + 1, p.title);
        for n in &p.nodes {
            match (&n.node, &n.address) {
                (Some(node), Some(addr)) => {
                    let _ = writeln!(s, "  {node} ({addr})");
                }
                _ => {
                    let _ = writeln!(s, "  cluster");
                }
            }
            for st in &n.steps {
                let _ = writeln!(s, "    - {}", st.describe());
            }
        }
    }
    let _ = writeln!(
        s,
        "\n{} phases, {} steps. Nothing was changed.",
        total,
        plan.step_count()
    );
    s
}
