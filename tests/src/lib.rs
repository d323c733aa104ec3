//! The end-to-end harness: helpers that build real logs, keys and (later) nodes
//! in temporary homes, shared by the scenario tests in `tests/tests/` and by the
//! README's demo (`quince-demo`).

#![forbid(unsafe_code)]

pub mod ceremony;
pub mod lab;
