//! Account secrets, with no HTTP in them: signed tokens ([`token`]) and password hashes
//! ([`password`]).
//!
//! Each module fails with its own error type; `http::error` is where each is given a
//! status, so the HTTP handlers in `http::auth` and the state built in `startup` reach
//! down here, never up into `http`.

pub mod oauth;
pub mod password;
pub mod token;
