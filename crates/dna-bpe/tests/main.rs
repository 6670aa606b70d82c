//! Integration tests, one binary per crate: every test binary links burn (and for
//! some crates polars), so one binary instead of one per file keeps a cold build's
//! disk use and link time down. Each module is one topic; run one with
//! `cargo test -p dna-bpe --test integration MODULE::`.

mod encode_example;
mod errors;
mod fasta;
mod golden;
mod hf_parity;
mod roundtrip;
mod trainer_files;
mod trainer_hf;
