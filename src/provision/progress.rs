//! Progress bars for the model pipeline. They draw on stderr only when it is a terminal, so logs and
//! tests stay clean; every stage is also logged through `tracing`.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Creates bars for one pipeline run; `hidden()` for callers that want silence.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn terminal() -> Self {
        Progress { multi: Some(MultiProgress::new()) }
    }

    pub fn hidden() -> Self {
        Progress { multi: None }
    }

    fn add(&self, bar: ProgressBar) -> ProgressBar {
        match &self.multi {
            Some(m) => m.add(bar),
            None => ProgressBar::hidden(),
        }
    }

    /// A bar counting bytes, e.g. hashing or extracting.
    pub fn bytes(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        let style = ProgressStyle::with_template("{msg:40!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("valid template")
            .progress_chars("=> ");
        self.add(ProgressBar::new(len)).with_style(style).with_message(message.into())
    }

    /// A bar counting steps, e.g. tensors converted.
    pub fn steps(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        let style = ProgressStyle::with_template("{msg:40!} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("valid template")
            .progress_chars("=> ");
        self.add(ProgressBar::new(len)).with_style(style).with_message(message.into())
    }

    /// A spinner for work of unknown length, e.g. a pip download.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = self.add(ProgressBar::new_spinner()).with_message(message.into());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }
}
