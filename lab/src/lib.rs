//! The failover lab: measures what clients see when a backend fails behind a load
//! balancer, as timelines one can look at.
//!
//! `lab run` sends an open-loop load at a fixed rate to any running HTTP target, fires
//! faults on a schedule (signals to a PID, or any command), records every request and
//! writes `requests.csv`, `summary.json`, `timeline.svg`, `timeline.png` and `report.html`.
//! `lab compare` starts three origins and each installed proxy (Flotilla, nginx, HAProxy)
//! and runs the same failure scenarios through each, into one report.
//!
//! Layout:
//! - `run`: `lab run`'s flags, the checks before any load, the output files;
//! - `load`: the open-loop dispatcher; `load/client`: keep-alive connections;
//! - `fault`: fault syntax, checks, firing, and resuming stopped processes;
//! - `record`: one request's record and `requests.csv`;
//! - `analysis`: `summary.json` (timeline, fault windows, detect and recover times);
//! - `plot`: the SVG and PNG timelines; `report`: the HTML pages;
//! - `compare`: `lab compare`; `compare/origins`, `compare/proxies`, `compare/scenarios`.

pub mod analysis;
pub mod compare;
pub mod fault;
pub mod load;
pub mod plot;
pub mod record;
pub mod report;
pub mod run;
