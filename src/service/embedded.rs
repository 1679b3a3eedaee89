//! The built-in services, embedded at build time by `build.rs` from the repo's
//! `services/` folder: `BUILTIN_FILES` maps each path below `services/` to its bytes.

include!(concat!(env!("OUT_DIR"), "/builtin_services.rs"));
