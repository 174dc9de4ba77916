//! Hostile clients, one module per attack area: each test sends the attack over real HTTP
//! and asserts what a user of the instance would notice (status, header, body, peak memory).
//! The memory bounds are read from the real `app` binary's `/proc/PID/status`.

mod busy;
mod hashing;
mod holes;
mod login;
mod process;
mod stalls;
mod uploads;
