//! Helpers shared by the tests: test PKIs, child processes, HTTP(S) clients.

pub mod etcd;
pub mod https;
pub mod pki;
pub mod proc;
pub mod setups;
