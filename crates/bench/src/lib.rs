//! The Gravida load benchmark (`scripts/bench.sh`): the pieces the `loadgen` and `baseline`
//! binaries share.
//!
//! * [`patient`]: the realistic full-prefetch patient (pub01 in a chart of about 100 records);
//! * [`stub`]: a FHIR server that answers the same records at once, for the fetch request;
//! * [`load`]: closed-loop (fixed concurrency) and paced (fixed rate) load with per-request
//!   latency and a check of every answer;
//! * [`check`]: what a right answer is;
//! * [`process`]: server CPU time and peak RSS from `/proc`;
//! * [`canary`]: how often the host slowed the CPU during a run.

pub mod canary;
pub mod check;
pub mod load;
pub mod patient;
pub mod process;
pub mod stub;
