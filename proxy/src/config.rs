//! Typed configuration. This branch carries only the upstream group's types.

pub mod upstream;
