//! The service layer: services deployed onto the cluster from a registry of declarative
//! descriptions (`docs/SERVICES.md`). `actions` runs deploy, stop, delete and refresh,
//! `scale` resizes a database, `prepare` loads, validates and renders what they work on,
//! and `error` is their error. `registry` reads the services (built-in, embedded, plus the
//! config dir's), `resolve` orders them by prerequisites, `render` fills in their Tera
//! templates, `steps` is the step format, `suggest` the "did you mean" hints, `run`
//! executes steps through the Kubernetes API, `exec` runs a command in a pod, `databases`
//! holds the built-in databases' validation and scale planners, `schema` makes the JSON Schema of
//! `services-configuration.yaml`.

pub mod actions;
pub mod config;
pub mod databases;
pub mod embedded;
pub mod error;
pub mod exec;
pub mod prepare;
pub mod registry;
pub mod render;
pub mod resolve;
pub mod run;
pub mod scale;
pub mod schema;
pub mod steps;
pub mod suggest;

pub use config::ServicesConfig;
