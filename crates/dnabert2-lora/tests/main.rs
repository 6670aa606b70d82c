//! Integration tests, one binary per crate: every test binary links burn (and for
//! some crates polars), so one binary instead of one per file keeps a cold build's
//! disk use and link time down. Each module is one topic; run one with
//! `cargo test -p dnabert2-lora --test integration MODULE::`.
//! `gue_finetune` is a binary of its own (see Cargo.toml).

mod common;
mod freeze;
mod merge;
mod peft_io;
