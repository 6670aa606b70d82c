//! Integration tests, one binary per crate: every test binary links burn (and for
//! some crates polars), so one binary instead of one per file keeps a cold build's
//! disk use and link time down. Each module is one topic; run one with
//! `cargo test -p dnabert2-model --test integration MODULE::`.

mod api;
mod common;
mod config_and_errors;
#[cfg(feature = "wgpu")]
mod gpu;
mod parity;
mod precision;
mod pretrained;
mod train_step;
