//! Progress bars of the workspace's long library jobs (BPE training, corpus tokenization,
//! training loops, benchmark runs), behind the `progress` feature (default on).
//!
//! A [`Bar`] draws on stderr with indicatif when the feature is on, the caller asked for
//! it, and `DNABERT2_NO_PROGRESS` is unset; otherwise it is silent and
//! [`Bar::println`] becomes a `log` info event. Libraries never print anything else:
//! messages are `log` events the binaries' logger shows.
//!
//! ```
//! let bar = dna_bpe::progress::Bar::new(3, "{bar:20} {pos}/{len} {msg}", false);
//! for _ in 0..3 {
//!     bar.inc(1);
//! }
//! bar.set_message("done");
//! bar.finish_and_clear();
//! ```

/// A progress bar (or nothing; see the module docs).
#[derive(Debug, Clone)]
pub struct Bar {
    #[cfg(feature = "progress")]
    inner: indicatif::ProgressBar,
}

impl Bar {
    /// A bar of `len` steps drawn with indicatif `template` when `visible`.
    pub fn new(len: u64, template: &str, visible: bool) -> Self {
        #[cfg(feature = "progress")]
        {
            let shown = visible && std::env::var_os("DNABERT2_NO_PROGRESS").is_none();
            let inner = if shown {
                indicatif::ProgressBar::new(len)
            } else {
                indicatif::ProgressBar::hidden()
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                inner.set_style(style);
            }
            Self { inner }
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = (len, template, visible);
            Self {}
        }
    }

    /// Moves to `pos`.
    pub fn set_position(&self, pos: u64) {
        #[cfg(feature = "progress")]
        self.inner.set_position(pos);
        #[cfg(not(feature = "progress"))]
        let _ = pos;
    }

    /// Advances by `n`.
    pub fn inc(&self, n: u64) {
        #[cfg(feature = "progress")]
        self.inner.inc(n);
        #[cfg(not(feature = "progress"))]
        let _ = n;
    }

    /// Sets the text after the bar.
    pub fn set_message(&self, msg: impl Into<String>) {
        #[cfg(feature = "progress")]
        self.inner.set_message(msg.into());
        #[cfg(not(feature = "progress"))]
        let _ = msg.into();
    }

    /// A line above the bar (a `log` info event when no bar is drawn).
    pub fn println(&self, msg: impl AsRef<str>) {
        #[cfg(feature = "progress")]
        if !self.inner.is_hidden() {
            self.inner.println(msg.as_ref());
            return;
        }
        log::info!("{}", msg.as_ref());
    }

    /// Removes the bar.
    pub fn finish_and_clear(&self) {
        #[cfg(feature = "progress")]
        self.inner.finish_and_clear();
    }

    /// Leaves the bar where it is (on errors).
    pub fn abandon(&self) {
        #[cfg(feature = "progress")]
        self.inner.abandon();
    }
}
