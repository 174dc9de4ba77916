//! The stack as a user runs it: the real binary, real child processes, real signals.

mod browser;
mod failover;
mod forwarding;
mod helpers;
mod lifecycle;
mod monitoring;
mod outage;
mod postgres;
mod split;
mod tls;
