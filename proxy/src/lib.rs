//! proxy: under construction.
