//! The `next` of a `wrap` hook: how a wrapper in a plugin re-enters the host to run the rest
//! of the operation.
//!
//! The host calls a wrapper (a command) with a token before its input. While that call runs,
//! this thread keeps an *active* entry for the token: the plugin, the point's contracts, and
//! the layer inside the wrapper (the next wrappers, then the replacement or the host's
//! operation). The SDK's `Next::call` sends the token back through the context's service call
//! (`switchboard_sdk::extend::NEXT_SERVICE`); [`serve_next`] finds the entry on the calling
//! thread, checks it (the caller's plugin, once only, the contracts) and runs the layer there,
//! on the wrapper's own stack. The entry is removed when the wrapper's call returns (or
//! unwinds), so a `next` kept for later, or called from another thread, finds nothing and
//! gets a coded error (`SB1715`) — never a dangling layer.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_sdk::abi::ServiceCall;
use switchboard_sdk::PluginError;

use super::ExtendError;
use crate::error::CallError;

/// The layer inside a wrapper: the input's bytes in, the output's bytes (or the layer's
/// error) out.
pub(crate) type Layer<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>, ExtendError> + 'a;

/// How deep wrappers may nest on one thread (across all points: a point invoked again from
/// inside its own operation nests too). Each level is a few host and plugin stack frames.
pub(crate) const MAX_WRAP_DEPTH: usize = 64;

/// Tokens are never reused in one process.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// One wrapper running on this thread.
struct Active {
    token: u64,
    plugin: Arc<str>,
    point: Arc<str>,
    input: &'static str,
    output: &'static str,
    /// The layer inside the wrapper, its lifetime erased; valid while the entry exists (see
    /// [`with_next`]).
    layer: *mut Layer<'static>,
    /// `next` was called.
    called: bool,
    /// Whether to keep a copy of a successful inner result: only a skip policy uses it (a
    /// wrapper that fails after `next` falls back to it); under `Propagate` an empty marker
    /// says "succeeded".
    keep_ok: bool,
    /// What the layer returned, once `next` ran.
    result: Option<Result<Vec<u8>, ExtendError>>,
    /// Whether the point has a timeout, so the time inside `next` is measured.
    timed: bool,
    /// The time spent inside `next`: the rest of the onion's, not the wrapper's own.
    inside: Duration,
}

thread_local! {
    /// The wrappers running on this thread, innermost last.
    static ACTIVE: RefCell<Vec<Active>> = const { RefCell::new(Vec::new()) };
}

/// What a wrapper's `next` did while the wrapper ran.
pub(crate) struct NextOutcome {
    /// What the layer inside returned, if `next` was called and got that far.
    pub(crate) result: Option<Result<Vec<u8>, ExtendError>>,
    /// The error handed to the plugin for the layer's error, to recognise it coming back.
    handed: Option<PluginError>,
    /// How long `next` ran: the layer's time, taken out of the wrapper's own for the point's
    /// timeout.
    pub(crate) inside: Duration,
}

impl NextOutcome {
    /// Whether `next` ran and returned an error.
    pub(crate) fn next_failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    /// Whether the wrapper's error is the one its `next` returned, passed on unchanged.
    pub(crate) fn passes_on(&self, error: &CallError) -> bool {
        match (error, &self.handed) {
            (CallError::Plugin { error, .. }, Some(handed)) => {
                error.code() == handed.code() && error.message() == handed.message()
            }
            _ => false,
        }
    }
}

/// Removes the entry of `token` when dropped, so it goes even if the call unwinds.
struct Leave(u64);

impl Leave {
    fn outcome(self) -> NextOutcome {
        let entry = take(self.0);
        std::mem::forget(self);
        let (result, inside) = match entry {
            Some(e) => (e.result, e.inside),
            None => (None, Duration::ZERO),
        };
        let handed = match &result {
            Some(Err(e)) => Some(to_plugin_error(e)),
            _ => None,
        };
        NextOutcome {
            result,
            handed,
            inside,
        }
    }
}

impl Drop for Leave {
    fn drop(&mut self) {
        take(self.0);
    }
}

fn take(token: u64) -> Option<Active> {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let pos = a.iter().rposition(|e| e.token == token)?;
        Some(a.remove(pos))
    })
}

/// Erases the lifetime of a layer, to keep it in the thread's active entries.
#[expect(
    unsafe_code,
    reason = "a thread-local cannot hold a borrowed closure; `with_next` bounds its use"
)]
fn erase<'a>(layer: &mut Layer<'a>) -> *mut Layer<'static> {
    let ptr: *mut Layer<'a> = layer;
    // SAFETY: only the trait object's lifetime bound changes (the fat pointer's layout is the
    // same). The pointer is dereferenced only in `enter`, while the entry holding it exists,
    // which `with_next` guarantees ends before the borrow of `layer` does.
    unsafe { std::mem::transmute::<*mut Layer<'a>, *mut Layer<'static>>(ptr) }
}

/// Runs the layer of an active entry.
#[expect(
    unsafe_code,
    reason = "calls the layer a wrapper's active entry points to (see `erase`)"
)]
fn enter(layer: *mut Layer<'static>, input: &[u8]) -> Result<Vec<u8>, ExtendError> {
    // SAFETY: `layer` was just read from an entry of this thread's active list, under the
    // checks of `claim`: the entry exists, so the `with_next` call that made it has not
    // returned and the closure it borrows is alive; `with_next` does not touch the closure
    // while the wrapper runs; and `claim` hands the pointer out once per entry (`called`),
    // so this is the only reference in use.
    unsafe { (*layer)(input) }
}

/// Runs `call` (the wrapper's own call, given its token) with `layer` reachable as the
/// wrapper's `next`; returns what `call` returned and what `next` did (with how long it took
/// if `timed`). Refused past [`MAX_WRAP_DEPTH`] wrappers on this thread.
pub(crate) fn with_next<R>(
    plugin: &Arc<str>,
    point: &Arc<str>,
    contracts: (&'static str, &'static str),
    keep_ok: bool,
    timed: bool,
    layer: &mut Layer<'_>,
    call: impl FnOnce(u64) -> R,
) -> Result<(R, NextOutcome), ExtendError> {
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let depth = ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let depth = a.len() + 1;
        if depth <= MAX_WRAP_DEPTH {
            a.push(Active {
                token,
                plugin: plugin.clone(),
                point: point.clone(),
                input: contracts.0,
                output: contracts.1,
                layer: erase(layer),
                called: false,
                keep_ok,
                result: None,
                timed,
                inside: Duration::ZERO,
            });
        }
        depth
    });
    if depth > MAX_WRAP_DEPTH {
        return Err(ExtendError::TooDeep {
            point: point.to_string(),
            depth,
            limit: MAX_WRAP_DEPTH,
        });
    }
    let leave = Leave(token);
    let r = call(token);
    Ok((r, leave.outcome()))
}

/// Serves a wrapper's `next` for `caller`: runs the layer inside the wrapper whose token the
/// call carries, on this thread, and returns its output's bytes.
pub(crate) fn serve_next(caller: &str, call: &ServiceCall<'_>) -> Result<Vec<u8>, PluginError> {
    let token = call.method.parse::<u64>().map_err(|_| {
        to_plugin_error(&ExtendError::NextNotActive {
            plugin: caller.to_owned(),
            reason: format!("`{}` is not a token", call.method),
        })
    })?;
    let (layer, timed) = claim(caller, token, call).map_err(|e| to_plugin_error(&e))?;
    let entered = timed.then(Instant::now);
    let result = enter(layer, call.request);
    let inside = entered.map(|t| t.elapsed());
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let mut entry = a.iter_mut().rev().find(|e| e.token == token);
        if let (Some(e), Some(inside)) = (entry.as_deref_mut(), inside) {
            e.inside = inside;
        }
        match (result, entry) {
            (Ok(bytes), Some(e)) if e.keep_ok => {
                e.result = Some(Ok(bytes.clone()));
                Ok(bytes)
            }
            (Ok(bytes), Some(e)) => {
                e.result = Some(Ok(Vec::new()));
                Ok(bytes)
            }
            (Ok(bytes), None) => Ok(bytes),
            (Err(error), entry) => {
                let handed = to_plugin_error(&error);
                if let Some(e) = entry {
                    e.result = Some(Err(error));
                }
                Err(handed)
            }
        }
    })
}

/// Checks a `next` call against its active entry and marks it called; the layer to run, and
/// whether to time it.
fn claim(
    caller: &str,
    token: u64,
    call: &ServiceCall<'_>,
) -> Result<(*mut Layer<'static>, bool), ExtendError> {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let Some(entry) = a.iter_mut().rev().find(|e| e.token == token) else {
            return Err(ExtendError::NextNotActive {
                plugin: caller.to_owned(),
                reason: "its wrapper has returned, or this is not the wrapper's thread".to_owned(),
            });
        };
        if &*entry.plugin != caller {
            return Err(ExtendError::NextNotYours {
                plugin: caller.to_owned(),
                point: entry.point.to_string(),
                holder: entry.plugin.to_string(),
            });
        }
        if entry.called {
            return Err(ExtendError::NextTwice {
                plugin: caller.to_owned(),
                point: entry.point.to_string(),
            });
        }
        if call.request_contract != entry.input || call.response_contract != entry.output {
            return Err(ExtendError::NextContract {
                plugin: caller.to_owned(),
                point: entry.point.to_string(),
                reason: format!(
                    "`Next<{}, {}>`; the point takes `{}` and returns `{}`",
                    call.request_contract, call.response_contract, entry.input, entry.output
                ),
            });
        }
        entry.called = true;
        Ok((entry.layer, entry.timed))
    })
}

/// The error a wrapper's `next` returns for a layer's error: the plugin's or the operation's
/// own error when that is what failed (so a wrapper sees its code), else the host's.
///
/// An inner plugin's panic is handed on as the host's `SB1711`, not as a panic's code: the
/// wrapper passing it on did not panic (and its instance would be failed for it).
pub(crate) fn to_plugin_error(error: &ExtendError) -> PluginError {
    match error {
        ExtendError::Contribution { source, .. } => {
            match &**source {
                CallError::Plugin { error, .. }
                    if error.code() != switchboard_sdk::codes::PLUGIN_PANICKED =>
                {
                    error.clone()
                }
                CallError::Plugin { .. } => PluginError::with_code(error.code(), error.to_string())
                    .next_step(error.next_step()),
                other => PluginError::with_code(other.code(), other.to_string())
                    .next_step(other.next_step()),
            }
        }
        ExtendError::Operation { error, .. } => error.clone(),
        other => {
            PluginError::with_code(other.code(), other.to_string()).next_step(other.next_step())
        }
    }
}
