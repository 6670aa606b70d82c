//! Integration tests, one binary per crate: every test binary links burn (and for
//! some crates polars), so one binary instead of one per file keeps a cold build's
//! disk use and link time down. Each module is one topic; run one with
//! `cargo test -p dnabert2-train --test integration MODULE::`.
//! `pretrain_resume` is a binary of its own (see Cargo.toml).

mod common;
mod continued_pretraining;
mod finetune;
mod finetune_lora;
mod optimizer_hf;
mod pretrain_corpus;
