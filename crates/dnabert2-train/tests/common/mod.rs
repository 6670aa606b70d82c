//! Helpers shared by the integration modules.

use std::sync::{Mutex, MutexGuard};

/// burn's backend RNG (dropout, initialisation) is process-global: tests that train in
/// this binary must not interleave their seeding and draws, or same-seed runs stop being
/// reproducible. Every test that trains holds this lock.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
