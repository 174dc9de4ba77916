//! stack: under construction.
