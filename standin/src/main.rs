//! k8s-standin: test-only stand-ins for kube-apiserver, kube-controller-manager,
//! kube-scheduler, kubelet, kube-proxy and cri-dockerd (see README.md). The component is
//! chosen by argv[0] or the first argument; flags and files are checked before anything runs.

mod apiloop;
mod apiserver;
mod checks;
mod client;
mod clock;
mod compconfig;
mod component;
mod control;
mod cri;
mod flags;
mod http;
mod kubeconfig;
mod kubelet;
mod lists;
mod log;
mod pki;
mod proxy;
mod tls;

use std::process::ExitCode;

use component::Component;
use flags::Flags;
use lists::Minor;
use log::log;
use tokio::signal::unix::{SignalKind, signal};

const DEFAULT_VERSION: &str = "1.36";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let Some((component, args)) = component::select(&argv) else {
        let names: Vec<&str> = Component::ALL.iter().map(|c| c.name()).collect();
        eprintln!("[k8s-standin] run as (or with first argument) one of {names:?}");
        return ExitCode::from(2);
    };
    log::set_component(component.name());
    let _ = rustls::crypto::ring::default_provider().install_default();

    let version_text =
        std::env::var("STANDIN_K8S_VERSION").unwrap_or_else(|_| DEFAULT_VERSION.into());
    let Some(version) = Minor::parse(&version_text) else {
        log!("STANDIN_K8S_VERSION {version_text:?} is not a version like 1.36");
        return ExitCode::from(2);
    };
    let (list, exact) = lists::select(component, version);
    if exact {
        log!(
            "checking flags against the {} {} list",
            list.component,
            list.version
        );
    } else {
        log!(
            "no {} flag list for {version}; using the nearest one, {}",
            list.component,
            list.version
        );
    }
    let flags = match Flags::parse(args) {
        Ok(f) => f,
        Err(e) => {
            log!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(problems) = flags.check_against(list) {
        for p in &problems {
            log!("{p}");
        }
        log!("exiting: {} flag problem(s)", problems.len());
        return ExitCode::FAILURE;
    }
    if flags.has("version") {
        match component {
            Component::CriDockerd => println!("cri-dockerd 0.3.0 (k8s-standin)"),
            _ => println!("Kubernetes v{version}.0-k8s-standin"),
        }
        return ExitCode::SUCCESS;
    }
    if flags.has("help") {
        println!(
            "{}: test-only stand-in (k8s-standin); accepts the {} {} flags",
            component.name(),
            list.component,
            list.version
        );
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(component, &flags, version))
}

async fn run(component: Component, flags: &Flags, version: Minor) -> ExitCode {
    let started = match component {
        Component::ApiServer => apiserver::start(flags, version).await,
        Component::ControllerManager | Component::Scheduler => {
            control::start(flags, component).await
        }
        Component::Kubelet => kubelet::start(flags, version).await,
        Component::Proxy => proxy::start(flags).await,
        Component::CriDockerd => cri::start(flags).await,
    };
    if let Err(problems) = started {
        for p in &problems {
            log!("{p}");
        }
        log!("exiting: {} problem(s)", problems.len());
        return ExitCode::FAILURE;
    }
    log!("started");
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log!("cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    log!("stopping on {which}");
    ExitCode::SUCCESS
}
