//! The stderr logger the workspace's binaries install (libraries only emit `log` events).
//!
//! Info events of this workspace's crates print as plain lines, warnings as
//! `WARNING: ...`, errors as `error: ...`; other crates (burn, cubecl, ...) only from
//! warnings up. `DNABERT2_LOG=debug|info|warn|error|off` changes the level.
//!
//! ```
//! dnabert2_train::console::init();
//! log::info!("printed to stderr");
//! ```

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Console {
    level: LevelFilter,
}

const OURS: [&str; 6] = [
    "dnabert2",
    "dna_bpe",
    "gue_bench",
    "xtask",
    "dnabert2_cli",
    "dnabert2_train",
];

impl Log for Console {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        let ours = OURS.iter().any(|p| meta.target().starts_with(p));
        meta.level() <= self.level && (ours || meta.level() <= Level::Warn)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match record.level() {
            Level::Error => eprintln!("error: {}", record.args()),
            Level::Warn => eprintln!("WARNING: {}", record.args()),
            Level::Info => eprintln!("{}", record.args()),
            Level::Debug | Level::Trace => eprintln!("[{}] {}", record.target(), record.args()),
        }
    }

    fn flush(&self) {}
}

/// Installs the logger (once; later calls do nothing).
pub fn init() {
    let level = match std::env::var("DNABERT2_LOG").as_deref() {
        Ok("off") => LevelFilter::Off,
        Ok("error") => LevelFilter::Error,
        Ok("warn") => LevelFilter::Warn,
        Ok("debug") => LevelFilter::Debug,
        Ok("trace") => LevelFilter::Trace,
        _ => LevelFilter::Info,
    };
    let logger: &'static Console = Box::leak(Box::new(Console { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
