//! TEMPORARY stand-in for the `svc` branch's service layer (see
//! /work/prompts/service-contract.md): only the types the database modules compile against.
//! On merge, keep svc's `src/service/{mod,steps,config}.rs` and drop this file's bodies.

pub mod config;
pub mod databases;
pub mod steps;

pub use config::ServicesConfig;
