//! The end-to-end harness: helpers that build real logs, keys and (later) nodes
//! in temporary homes, shared by the scenario tests in `tests/tests/`.

#![forbid(unsafe_code)]
