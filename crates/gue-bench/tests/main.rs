//! Integration tests, one binary per crate: every test binary links burn (and for
//! some crates polars), so one binary instead of one per file keeps a cold build's
//! disk use and link time down. Each module is one topic; run one with
//! `cargo test -p gue-bench --test integration MODULE::`.

mod loading;
mod metrics;
mod registry;
mod runner;
