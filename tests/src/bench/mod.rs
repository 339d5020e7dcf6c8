//! The benchmark behind `chassisd-bench` (see `src/bin/chassisd-bench.rs`).

pub mod measure;
pub mod phases;
pub mod procstat;
pub mod report;
pub mod sbconn;
pub mod stats;
pub mod topo;
pub mod watch;
