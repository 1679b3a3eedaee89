//! The `k8s-manage` command-line entry point.

fn main() {
    println!("k8s-manage");
}
