//! Progress of long-running commands: a bar on a terminal, a log line every tenth of the way
//! otherwise (CI logs, redirected output).

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    what: &'static str,
    logged: AtomicU64,
}

impl Progress {
    /// `what` names the work (`verifying`), `unit` what is counted (`events`).
    pub fn new(what: &'static str, unit: &'static str, len: u64) -> Self {
        let template =
            format!("{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
        let bar = ProgressBar::new(len).with_style(
            ProgressStyle::with_template(&template).expect("the template is valid").progress_chars("=> "),
        );
        Progress { bar, what, logged: AtomicU64::new(0) }
    }

    pub fn set_length(&self, len: u64) {
        self.bar.set_length(len);
    }

    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
        self.log();
    }

    pub fn inc(&self, delta: u64) {
        self.bar.inc(delta);
        self.log();
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn log(&self) {
        if !self.bar.is_hidden() {
            return;
        }
        let (position, len) = (self.bar.position(), self.bar.length().unwrap_or(0));
        let step = (len / 10).max(1);
        let logged = self.logged.load(Ordering::Relaxed);
        if position >= logged + step
            && self.logged.compare_exchange(logged, position, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::info!(done = position, total = len, "{}", self.what);
        }
    }
}
