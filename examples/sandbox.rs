//! Drive the sandbox library by hand until the CLI is wired:
//! `cargo run --example sandbox -- up DIR [MASTERS WORKERS]`, `-- status`, `-- down`
//! (sandbox name from `SANDBOX_NAME`, default `k8s-sandbox`).

use k8s_manage::sandbox::{self, UpOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = std::env::var("SANDBOX_NAME").unwrap_or_else(|_| sandbox::DEFAULT_NAME.into());
    match args.first().map(String::as_str) {
        Some("up") => {
            let mut opts = UpOptions::new(args.get(1).cloned().unwrap_or_else(|| "sandbox".into()));
            opts.name = name;
            if let (Some(m), Some(w)) = (args.get(2), args.get(3)) {
                opts.masters = m.parse()?;
                opts.workers = w.parse()?;
            }
            let info = sandbox::up(&opts, &|m: &str| println!("{m}")).await?;
            for n in &info.nodes {
                println!("{} {} {} {}", n.hostname, n.address, n.role, n.container);
            }
        }
        Some("status") => {
            for n in sandbox::status(&name).await? {
                println!("{n:?}");
            }
        }
        Some("down") => println!("{:?}", sandbox::down(&name).await?),
        _ => eprintln!("usage: sandbox up DIR [MASTERS WORKERS] | status | down"),
    }
    Ok(())
}
