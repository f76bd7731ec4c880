//! `ExtensionPoint<In, Out>`: the typed handle a host keeps on a point it declared, and the
//! ways to invoke it.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_sdk::abi::ResponseBuffer;
use switchboard_sdk::extend::PASSED;
use switchboard_sdk::{Message, PluginError};

use super::kind::{ErrorPolicy, PointKind};
use super::registry::{Entry, Failure, PointCore, Snapshot};
use super::wrap::{self, Layer};
use super::ExtendError;
use crate::error::CallError;

thread_local! {
    /// The request and response buffers invocations on this thread reuse.
    static BUFFERS: RefCell<(Vec<u8>, ResponseBuffer)> =
        const { RefCell::new((Vec::new(), ResponseBuffer::new())) };
}

/// Buffers above this size are released after an invocation rather than kept.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// Runs `f` with this thread's buffers (fresh ones for an invocation made from inside a
/// contribution on the same thread).
fn with_buffers<R>(f: impl FnOnce(&mut Vec<u8>, &mut ResponseBuffer) -> R) -> R {
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (req, resp) = &mut *bufs;
            let r = f(req, resp);
            if req.capacity() > KEEP_BUFFER_BYTES {
                *req = Vec::new();
            }
            resp.release_if_larger_than(KEEP_BUFFER_BYTES);
            r
        }
        Err(_) => f(&mut Vec::new(), &mut ResponseBuffer::new()),
    })
}

/// A typed handle on an extension point the host declared with
/// [`Host::extension_point`](crate::Host::extension_point). Cheap to clone; invocations take
/// no lock, and a point nobody contributes to costs one atomic load.
///
/// Contributions run on the invoking thread, in order (see the [module docs](super)); each
/// is a call of the command serving the plugin's `#[hook]`, through the plugin's instance.
pub struct ExtensionPoint<In, Out> {
    pub(crate) core: Arc<PointCore>,
    pub(crate) _types: PhantomData<fn(&In) -> Out>,
}

impl<In, Out> Clone for ExtensionPoint<In, Out> {
    fn clone(&self) -> Self {
        ExtensionPoint {
            core: self.core.clone(),
            _types: PhantomData,
        }
    }
}

impl<In, Out> fmt::Debug for ExtensionPoint<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtensionPoint")
            .field("name", &self.core.name)
            .field("kind", &self.core.kind)
            .field("contributions", &self.core.live.load(Ordering::Relaxed))
            .finish()
    }
}

/// One contribution's result, with who gave it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Contributed<T> {
    /// The contributing plugin.
    pub plugin: Arc<str>,
    /// The command that served it: in a registry point, the item's name.
    pub name: Arc<str>,
    /// What it returned.
    pub value: T,
}

/// A contribution as [`ExtensionPoint::contributions`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContributionInfo {
    /// The contributing plugin.
    pub plugin: String,
    /// The command serving it.
    pub command: String,
    /// Its hook kind.
    pub kind: switchboard_sdk::extend::HookKind,
    /// Its priority.
    pub priority: i32,
    /// Failures so far.
    pub failures: u64,
    /// Whether the point's breaker disabled it.
    pub disabled: bool,
}

impl<In, Out> ExtensionPoint<In, Out> {
    /// The point's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The point's kind.
    pub fn kind(&self) -> PointKind {
        self.core.kind
    }

    /// Its policy for failing contributions.
    pub fn policy(&self) -> ErrorPolicy {
        self.core.policy
    }

    /// The contributions in place now, in running order (an operation's `before` hooks, its
    /// wrappers outermost first, its replacement, its `after` hooks).
    pub fn contributions(&self) -> Vec<ContributionInfo> {
        let snap = self.core.snapshot.load();
        snap.before
            .iter()
            .chain(&snap.wrap)
            .chain(&snap.main)
            .chain(&snap.after)
            .map(|e| ContributionInfo {
                plugin: e.plugin.to_string(),
                command: e.command.to_string(),
                kind: e.kind,
                priority: e.priority,
                failures: e.failures.load(Ordering::Relaxed),
                disabled: e.disabled.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The last failures of contributions (at most 64), oldest first.
    pub fn failures(&self) -> Vec<Failure> {
        self.core.failures.lock().iter().cloned().collect()
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.core.live.load(Ordering::Acquire) == 0
    }

    #[cold]
    fn wrong(&self, use_instead: &'static str) -> ExtendError {
        ExtendError::WrongInvocation {
            point: self.core.name.clone(),
            kind: self.core.kind.as_str(),
            use_instead,
        }
    }

    /// Calls one contribution with `request`; its answer lands in `out`. Held to the point's
    /// timeout: an in-process one by its time measured once it returned, an isolated one by
    /// its runner's deadline alone (measured here, the time would also count waiting out a
    /// reload or a runner's restart and the host services it called, which are not its own).
    #[inline]
    fn call(
        &self,
        entry: &Entry,
        request: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<(), ExtendError> {
        let started = self
            .core
            .timeout
            .filter(|_| !entry.isolated)
            .map(|limit| (Instant::now(), limit));
        self.dispatch(entry, request, out)?;
        if let Some((t0, limit)) = started {
            self.within(entry, t0.elapsed(), limit)?;
        }
        Ok(())
    }

    /// Calls one contribution, untimed in-process; an isolated one is given at most the
    /// point's timeout, past which its runner is killed (`SB1502`).
    #[inline]
    fn dispatch(
        &self,
        entry: &Entry,
        request: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<(), ExtendError> {
        let result = match self.core.timeout {
            Some(limit) if entry.isolated => {
                crate::isolation::with_call_limit(&entry.plugin, limit, || {
                    entry.call.call_buffered(request, out).map(|_| ())
                })
            }
            _ => entry.call.call_buffered(request, out).map(|_| ()),
        };
        result.map_err(|e| self.call_error(entry, e))
    }

    /// A contribution that took `took` of its own against the point's `limit`: an overrun is
    /// its failure (`SB1712`), found once it returned.
    #[inline]
    fn within(&self, entry: &Entry, took: Duration, limit: Duration) -> Result<(), ExtendError> {
        if took <= limit {
            return Ok(());
        }
        Err(ExtendError::TimedOut {
            plugin: entry.plugin.to_string(),
            command: entry.command.to_string(),
            point: self.core.name.clone(),
            took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        })
    }

    #[cold]
    fn call_error(&self, entry: &Entry, error: CallError) -> ExtendError {
        ExtendError::Contribution {
            plugin: entry.plugin.to_string(),
            command: entry.command.to_string(),
            point: self.core.name.clone(),
            source: Box::new(error),
        }
    }

    #[cold]
    fn undecodable(&self, entry: &Entry, error: &switchboard_sdk::PluginError) -> ExtendError {
        self.call_error(
            entry,
            CallError::Decode {
                plugin: entry.plugin.to_string(),
                command: entry.command.to_string(),
                reason: error.message().to_owned(),
            },
        )
    }

    /// A success: a breaker's count of failures in a row starts again.
    #[inline]
    fn succeeded(&self, entry: &Entry) {
        if matches!(self.core.policy, ErrorPolicy::DisableAfter(_))
            && entry.in_a_row.load(Ordering::Relaxed) != 0
        {
            entry.in_a_row.store(0, Ordering::Relaxed);
        }
    }
}

/// Threads `value`'s bytes in `req` through `list` (each takes and returns `T`); returns the
/// last decoded value, or `None` if no contribution changed it.
fn thread_through<In, Out, T: Message>(
    point: &ExtensionPoint<In, Out>,
    list: &[Arc<Entry>],
    req: &mut Vec<u8>,
    out: &mut ResponseBuffer,
) -> Result<Option<T>, ExtendError> {
    let mut value = None;
    for entry in list {
        if entry.disabled.load(Ordering::Relaxed) {
            continue;
        }
        let step = point
            .call(entry, req, out)
            .and_then(|()| T::__decode(out.as_slice()).map_err(|e| point.undecodable(entry, &e)));
        match step {
            Ok(v) => {
                point.succeeded(entry);
                req.clear();
                req.extend_from_slice(out.as_slice());
                value = Some(v);
            }
            // Skipped: the next contribution gets the value this one was given.
            Err(error) => point.core.failed(entry, error)?,
        }
    }
    Ok(value)
}

impl<In: Message, Out: Message> ExtensionPoint<In, Out> {
    /// Runs every contribution of a collect or registry point with `input`, in order, and
    /// returns their results (those the policy skipped left out).
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// use switchboard_host::extend::PointKind;
    /// let menus = host.extension_point::<String, String>("app.menu.items", PointKind::Collect)?;
    /// for item in menus.collect(&"file".to_string())? {
    ///     println!("{} adds {}", item.plugin, item.value);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn collect(&self, input: &In) -> Result<Vec<Contributed<Out>>, ExtendError> {
        if !matches!(self.core.kind, PointKind::Collect | PointKind::Registry) {
            return Err(self.wrong(self.method()));
        }
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let snap = self.core.snapshot.load();
        with_buffers(|req, out| {
            req.clear();
            input.__encode_into(req);
            let mut results = Vec::with_capacity(snap.main.len());
            for entry in &snap.main {
                if entry.disabled.load(Ordering::Relaxed) {
                    continue;
                }
                let step = self.call(entry, req, out).and_then(|()| {
                    Out::__decode(out.as_slice()).map_err(|e| self.undecodable(entry, &e))
                });
                match step {
                    Ok(value) => {
                        self.succeeded(entry);
                        results.push(Contributed {
                            plugin: entry.plugin.clone(),
                            name: entry.command.clone(),
                            value,
                        });
                    }
                    Err(error) => self.core.failed(entry, error)?,
                }
            }
            Ok(results)
        })
    }

    /// Asks the contributions of a first point in order, until one answers; `None` if none
    /// does. A contribution declines with `switchboard_sdk::extend::pass()` (no failure).
    pub fn first(&self, input: &In) -> Result<Option<Contributed<Out>>, ExtendError> {
        if self.core.kind != PointKind::First {
            return Err(self.wrong(self.method()));
        }
        if self.is_empty() {
            return Ok(None);
        }
        let snap = self.core.snapshot.load();
        with_buffers(|req, out| {
            req.clear();
            input.__encode_into(req);
            for entry in &snap.main {
                if entry.disabled.load(Ordering::Relaxed) {
                    continue;
                }
                let step = self.call(entry, req, out).and_then(|()| {
                    Out::__decode(out.as_slice()).map_err(|e| self.undecodable(entry, &e))
                });
                match step {
                    Ok(value) => {
                        self.succeeded(entry);
                        return Ok(Some(Contributed {
                            plugin: entry.plugin.clone(),
                            name: entry.command.clone(),
                            value,
                        }));
                    }
                    Err(ExtendError::Contribution { source, .. }) if matches!(&*source, CallError::Plugin { error, .. } if error.code() == PASSED) =>
                    {
                        self.succeeded(entry);
                    }
                    Err(error) => self.core.failed(entry, error)?,
                }
            }
            Ok(None)
        })
    }

    /// Runs the host operation `op` as an operation point's plugins extend it: the `before`
    /// hooks in order, each given the input the one before returned; then the wrappers,
    /// outermost first, each around the rest (see [`try_run`](Self::try_run)); innermost the
    /// replacement if a plugin contributes one, else `op`; then the `after` hooks in order
    /// over the result.
    ///
    /// A replacement skipped by the policy falls back to `op`.
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// use switchboard_host::extend::PointKind;
    /// let build = host.extension_point::<String, String>("workflow.phase.build", PointKind::Operation)?;
    /// let artefact = build.run("src/".to_string(), |dir| format!("built {dir}"))?;
    /// # Ok(()) }
    /// ```
    pub fn run(&self, input: In, op: impl FnOnce(In) -> Out) -> Result<Out, ExtendError> {
        self.try_run(input, |i| Ok(op(i)))
    }

    /// [`run`](Self::run) with an operation that may fail. Its error goes to the wrappers
    /// (their `next` returns it, with its code), which may pass it on, change it or recover;
    /// if it reaches the caller it is [`ExtendError::Operation`] (`SB1719`).
    ///
    /// **Wrappers.** Each wrapper gets the input and a `next`: calling it runs the wrappers
    /// inside this one, then the replacement or `op`, and returns their result or error; a
    /// wrapper may change the input, skip `next` (then nothing inside it runs), or change the
    /// result or the error. `next` runs at most once per invocation (the SDK's `Next` is
    /// consumed; a second call is `SB1716`), only while its wrapper runs and on its thread
    /// (`SB1715`). A wrapper's own failure follows the point's policy; skipped, it is as if it
    /// were absent — the rest runs with the input it was given, or, if it had called `next`
    /// already, the result `next` returned stands (nothing runs twice). An error the wrapper
    /// passes on unchanged from `next` is not its failure. Wrappers nest at most
    /// 64 deep on one thread (`SB1718`).
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// use switchboard_host::extend::PointKind;
    /// use switchboard_sdk::PluginError;
    /// let build = host.extension_point::<String, String>("workflow.phase.build", PointKind::Operation)?;
    /// let artefact = build.try_run("src/".to_string(), |dir| {
    ///     if dir.is_empty() {
    ///         Err(PluginError::new("nothing to build"))
    ///     } else {
    ///         Ok(format!("built {dir}"))
    ///     }
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn try_run(
        &self,
        input: In,
        op: impl FnOnce(In) -> Result<Out, PluginError>,
    ) -> Result<Out, ExtendError> {
        if self.core.kind != PointKind::Operation {
            return Err(self.wrong(self.method()));
        }
        let operation = |error: PluginError| ExtendError::Operation {
            point: self.core.name.clone(),
            error,
        };
        if self.is_empty() {
            return op(input).map_err(operation);
        }
        let snap = self.core.snapshot.load();
        let result = if snap.wrap.is_empty() {
            let (input, replaced) = with_buffers(|req, out| {
                req.clear();
                input.__encode_into(req);
                let input =
                    thread_through::<In, Out, In>(self, &snap.before, req, out)?.unwrap_or(input);
                let replaced = self.replace(&snap.main, req, out)?;
                Ok::<_, ExtendError>((input, replaced))
            })?;
            match replaced {
                Some(v) => v,
                None => op(input).map_err(operation)?,
            }
        } else {
            self.wrapped(&snap, input, op)?
        };
        if snap.after.is_empty() {
            return Ok(result);
        }
        with_buffers(|req, out| {
            req.clear();
            result.__encode_into(req);
            Ok(thread_through::<In, Out, Out>(self, &snap.after, req, out)?.unwrap_or(result))
        })
    }

    /// Runs the replacement in `main` (if any, and not disabled) with the input in `req`.
    /// `None`: none ran (or the policy skipped its failure), the host's operation runs.
    fn replace(
        &self,
        main: &[Arc<Entry>],
        req: &[u8],
        out: &mut ResponseBuffer,
    ) -> Result<Option<Out>, ExtendError> {
        let Some(entry) = main.iter().find(|e| !e.disabled.load(Ordering::Relaxed)) else {
            return Ok(None);
        };
        let step = self
            .call(entry, req, out)
            .and_then(|()| Out::__decode(out.as_slice()).map_err(|e| self.undecodable(entry, &e)));
        match step {
            Ok(v) => {
                self.succeeded(entry);
                Ok(Some(v))
            }
            Err(error) => {
                self.core.failed(entry, error)?;
                Ok(None)
            }
        }
    }

    /// The `before` hooks, then the onion of wrappers around the replacement or `op`, from
    /// the outermost in.
    #[cold]
    fn wrapped(
        &self,
        snap: &Snapshot,
        input: In,
        op: impl FnOnce(In) -> Result<Out, PluginError>,
    ) -> Result<Out, ExtendError> {
        let mut bytes = Vec::new();
        input.__encode_into(&mut bytes);
        drop(input);
        if !snap.before.is_empty() {
            let mut out = ResponseBuffer::new();
            thread_through::<In, Out, In>(self, &snap.before, &mut bytes, &mut out)?;
        }
        let mut op = Some(op);
        let mut core = |input: &[u8]| -> Result<Vec<u8>, ExtendError> {
            let mut out = ResponseBuffer::new();
            if let Some(v) = self.replace(&snap.main, input, &mut out)? {
                drop(v);
                return Ok(out.into_vec());
            }
            let op = op.take().ok_or_else(|| ExtendError::NextTwice {
                plugin: "the host".to_owned(),
                point: self.core.name.clone(),
            })?;
            let input = In::__decode(input).map_err(|e| ExtendError::NextContract {
                plugin: "a wrapper".to_owned(),
                point: self.core.name.clone(),
                reason: format!("an input that does not decode: {}", e.message()),
            })?;
            let result = op(input).map_err(|error| ExtendError::Operation {
                point: self.core.name.clone(),
                error,
            })?;
            let mut encoded = Vec::new();
            result.__encode_into(&mut encoded);
            Ok(encoded)
        };
        let answer = self.layer(&snap.wrap, &bytes, &mut core)?;
        Out::__decode(&answer).map_err(|e| ExtendError::NextContract {
            plugin: "a wrapper".to_owned(),
            point: self.core.name.clone(),
            reason: format!("a result that does not decode: {}", e.message()),
        })
    }

    /// Runs the wrappers `wraps` (outermost first) around `core` over `input`.
    fn layer(
        &self,
        wraps: &[Arc<Entry>],
        input: &[u8],
        core: &mut Layer<'_>,
    ) -> Result<Vec<u8>, ExtendError> {
        let Some((entry, inner)) = wraps.split_first() else {
            return core(input);
        };
        if entry.disabled.load(Ordering::Relaxed) {
            return self.layer(inner, input, core);
        }
        let mut next = |bytes: &[u8]| self.layer(inner, bytes, core);
        let mut request = Vec::with_capacity(8 + input.len());
        let mut out = ResponseBuffer::new();
        // Timed here in-process only; an isolated wrapper is held to the point's timeout by
        // its runner's deadline, which already leaves out the time it spends serving `next`.
        let started = self
            .core
            .timeout
            .filter(|_| !entry.isolated)
            .map(|limit| (Instant::now(), limit));
        let (called, outcome) = wrap::with_next(
            &entry.plugin,
            &self.core.name_arc,
            (self.core.input, self.core.output),
            self.core.policy != ErrorPolicy::Propagate,
            started.is_some(),
            &mut next,
            |token| {
                request.extend_from_slice(&token.to_le_bytes());
                request.extend_from_slice(input);
                self.dispatch(entry, &request, &mut out)
            },
        )?;
        // The wrapper's own time: what ran inside its `next` (the inner wrappers, the
        // replacement, the host's operation) is theirs.
        let called = match started {
            Some((t0, limit)) => called.and_then(|()| {
                self.within(entry, t0.elapsed().saturating_sub(outcome.inside), limit)
            }),
            None => called,
        };
        let own = match called {
            Ok(()) => match Out::__decode(out.as_slice()) {
                Ok(_) => {
                    self.succeeded(entry);
                    return Ok(out.into_vec());
                }
                Err(e) => self.undecodable(entry, &e),
            },
            Err(ExtendError::Contribution { source, .. }) if outcome.passes_on(&source) => {
                // The error `next` returned, passed on: the layer's, not this wrapper's.
                return match outcome.result {
                    Some(Err(inner)) => Err(inner),
                    _ => Err(self.call_error(entry, *source)),
                };
            }
            // `next` failed and the wrapper answers with another error: the error, changed
            // (a panic is still the wrapper's own failure).
            Err(ExtendError::Contribution { source, .. })
                if outcome.next_failed()
                    && !matches!(&*source, CallError::Plugin { error, .. }
                        if error.code() == switchboard_sdk::codes::PLUGIN_PANICKED) =>
            {
                self.succeeded(entry);
                return Err(self.call_error(entry, *source));
            }
            Err(e) => e,
        };
        self.core.failed(entry, own)?;
        // Skipped: as if this wrapper were not there, without running anything twice.
        match outcome.result {
            Some(result) => result,
            None => self.layer(inner, input, core),
        }
    }
    fn method(&self) -> &'static str {
        match self.core.kind {
            PointKind::Collect | PointKind::Registry => "`collect`",
            PointKind::First => "`first`",
            PointKind::Filter => "`filter`",
            PointKind::Operation => "`run`",
        }
    }
}

impl<T: Message> ExtensionPoint<T, T> {
    /// Threads `value` through a filter point's contributions in order, each given what the
    /// one before returned, and returns the last result (`value` itself if none contributes).
    /// A contribution the policy skips leaves the value as it was given.
    ///
    /// ```no_run
    /// # fn demo(host: &switchboard_host::Host) -> Result<(), switchboard_host::Error> {
    /// use switchboard_host::extend::PointKind;
    /// let title = host.extension_point::<String, String>("doc.title", PointKind::Filter)?;
    /// let shown = title.filter("Notes".to_string())?;
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn filter(&self, value: T) -> Result<T, ExtendError> {
        if self.core.kind != PointKind::Filter {
            return Err(self.wrong(self.method()));
        }
        if self.is_empty() {
            return Ok(value);
        }
        let snap = self.core.snapshot.load();
        with_buffers(|req, out| {
            req.clear();
            value.__encode_into(req);
            Ok(thread_through::<T, T, T>(self, &snap.main, req, out)?.unwrap_or(value))
        })
    }
}
