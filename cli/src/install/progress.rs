//! Progress of an install operation: "phase 3/5: resolve" on a spinner, and bytes while a
//! package downloads — on a terminal only; nothing when stdout is piped or `--json` is given
//! (ARCHITECTURE, CLI conventions).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The phases every operation records in the journal, in order.
pub const PHASES: [&str; 5] = ["download", "verify", "resolve", "activate", "health-check"];

/// A spinner that shows the operation's phase, and a byte count while downloading.
#[derive(Debug)]
pub struct PhaseProgress {
    bar: Option<ProgressBar>,
}

impl PhaseProgress {
    /// Visible when stdout is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> PhaseProgress {
        if quiet || !std::io::stdout().is_terminal() {
            return PhaseProgress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        PhaseProgress { bar: Some(bar) }
    }

    /// Shows `phase` as "phase N/5: phase", with what it is doing now.
    pub fn phase(&self, phase: &str, detail: &str) {
        let Some(bar) = &self.bar else { return };
        bar.set_style(ProgressStyle::default_spinner());
        bar.set_message(phase_line(phase, detail));
    }

    /// Shows the bytes of a download so far, of `total` when known.
    pub fn bytes(&self, what: &str, done: u64, total: Option<u64>) {
        let Some(bar) = &self.bar else { return };
        let template = if total.is_some() {
            "{spinner} {msg} {bytes}/{total_bytes} ({bytes_per_sec})"
        } else {
            "{spinner} {msg} {bytes}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(done);
        bar.set_message(phase_line("download", what));
    }

    /// The installer's progress callback, showing its phases and download bytes here.
    pub fn handler(&self) -> impl Fn(&switchboard_host::install::Progress) + Send + Sync + 'static {
        let this = PhaseProgress {
            bar: self.bar.clone(),
        };
        move |p| match (p.bytes, &p.plugin) {
            (Some((done, total)), plugin) => {
                this.bytes(plugin.as_deref().unwrap_or(""), done, total)
            }
            (None, plugin) => this.phase(p.phase.as_str(), plugin.as_deref().unwrap_or("")),
        }
    }

    /// Prints a line above the spinner (on a terminal only).
    pub fn note(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
        }
    }

    /// Hides the spinner, so a prompt or the report can be printed.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// "phase 3/5: resolve — detail" (an unknown phase is shown by name alone).
pub fn phase_line(phase: &str, detail: &str) -> String {
    let head = match PHASES.iter().position(|p| *p == phase) {
        Some(i) => format!("phase {}/{}: {phase}", i + 1, PHASES.len()),
        None => phase.to_owned(),
    };
    if detail.is_empty() {
        head
    } else {
        format!("{head} — {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_numbered_in_journal_order() {
        assert_eq!(phase_line("resolve", ""), "phase 3/5: resolve");
        assert_eq!(
            phase_line("download", "hello 0.2.0"),
            "phase 1/5: download — hello 0.2.0"
        );
        assert_eq!(phase_line("gc", ""), "gc");
    }

    #[test]
    fn quiet_progress_shows_nothing() {
        let p = PhaseProgress::new(true);
        assert!(p.bar.is_none());
        p.phase("verify", "hello");
        p.bytes("hello", 10, Some(20));
        assert_eq!(p.suspend(|| 7), 7);
    }
}
