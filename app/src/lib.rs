//! The Flotilla app service as a library, so its binary and its tests share one build.
//!
//! # Layout
//!
//! - [`analysis`]: the CSV analysis engine (type inference and per-column statistics).

pub mod analysis;
