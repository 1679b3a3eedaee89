//! Helpers shared by the sandbox tests: throw-away containers ([`docker`]), and a guard
//! that removes a sandbox however a test ends.
#![allow(dead_code)]

pub mod docker;

/// Removes sandbox `name` when dropped: after a test passes, fails or panics.
pub struct DownGuard(pub String);

impl Drop for DownGuard {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop may run inside a Tokio runtime, which cannot block: use a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(k8s_manage::sandbox::down(&name))
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("removing sandbox {}: {e}", self.0);
        }
    }
}
