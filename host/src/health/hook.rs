//! A plugin's `health` hook, asked on a thread of its own and waited for at most a deadline:
//! a hook that hangs costs its thread (abandoned, as a hung `stop` hook's is — in-process
//! code cannot be killed), never the caller. A hook that panics is caught by the plugin's
//! adapter and answers unhealthy.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use switchboard_sdk::Health;

/// A hook asked on its thread; its answer is read with [`Pending::wait_until`].
#[derive(Debug)]
pub(crate) struct Pending {
    answer: Receiver<Health>,
}

/// Asks `ask` on a new thread named for `plugin`.
pub(crate) fn spawn(
    plugin: &str,
    ask: impl FnOnce() -> Health + Send + 'static,
) -> Result<Pending, String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name(format!("health-{plugin}"))
        .spawn(move || {
            let _ = tx.send(ask());
        })
        .map_err(|e| format!("cannot run the health check: {e}"))?;
    Ok(Pending { answer: rx })
}

impl Pending {
    /// The hook's answer, if it comes by `deadline`; else why not (`allowed` is the time it
    /// was given, for the message).
    pub(crate) fn wait_until(self, deadline: Instant, allowed: Duration) -> Result<Health, String> {
        match self.answer.recv_deadline(deadline) {
            Ok(health) => Ok(health),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "the health check did not answer within {} ms",
                allowed.as_millis()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err("the health check ended without an answer".into())
            }
        }
    }
}

/// `ask`'s answer within `deadline`; no answer, or no thread to ask on, counts as unhealthy.
pub(crate) fn within(
    plugin: &str,
    deadline: Duration,
    ask: impl FnOnce() -> Health + Send + 'static,
) -> Health {
    let until = instant_after(deadline);
    match spawn(plugin, ask).and_then(|p| p.wait_until(until, deadline)) {
        Ok(health) => health,
        Err(why) => Health::Unhealthy(why),
    }
}

/// `deadline` from now; a deadline too far for the clock (`Duration::MAX`) means a year.
pub(crate) fn instant_after(deadline: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(deadline)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}
