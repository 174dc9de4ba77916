//! The app's integration tests: real HTTP against instances on port 0.

mod helpers;

mod auth;
mod cli;
mod concurrency;
mod datasets;
mod drain;
mod events;
mod forwarding;
mod health;
mod hostile;
mod live;
mod oauth;
mod poll;
