//! Streaming commands on the host side (SPEC S1.6): a handle, the iterator a consumer reads
//! chunks from, and the callback form.
//!
//! [`StreamCommand::start`] runs the plugin's command on a thread of its own (a producer) and
//! hands its chunks to the consumer through a bounded channel: when the consumer is
//! [`DEFAULT_STREAM_CAPACITY`] chunks behind, the plugin's `send` blocks until it reads one
//! (backpressure). [`Stream::cancel`] (or dropping the stream) closes the channel: a `send`
//! blocked on it returns at once, and every later one, with `STREAM_CANCELLED`.
//! [`StreamCommand::call_streaming`] needs no thread: the plugin runs on the caller's thread
//! and each chunk goes to the caller's closure inside the plugin's `send`.
//!
//! The instance keeps every open stream's stop signal ([`OpenStreams`]): a reload, a stop or
//! a removal ends them the same way, so an open stream never holds an old version in place.
//! A plugin that ignores the refusal and goes on sending is slowed down — each refused `send`
//! past the first [`IGNORED_FREE`] waits, up to a second — so a loop that never checks the
//! error idles instead of spinning (in-process, its thread cannot be taken from it; isolated,
//! its call timeout stops running from the cancellation on, and the runner is killed then).

use std::fmt;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use parking_lot::Mutex;

use switchboard_sdk::abi::{ChunkReceiver, ResponseBuffer};
use switchboard_sdk::{codes, Message, PluginError};

use super::handle::Binding;
use super::{Instance, StreamReceiver, Usage};
use crate::error::CallError;

/// How many chunks a [`Stream`] holds for its consumer before the plugin's `send` waits.
pub const DEFAULT_STREAM_CAPACITY: usize = 16;

fn cancelled() -> PluginError {
    PluginError::with_code(
        codes::STREAM_CANCELLED,
        "the consumer stopped the stream; send no more chunks",
    )
    .next_step("return this error (`out.send(chunk)?` does) so the command ends")
}

/// Refused sends a plugin gets for free after its stream stopped; each later one waits.
const IGNORED_FREE: u32 = 64;

/// The longest wait a refused `send` is made to take.
const IGNORED_MAX_WAIT: Duration = Duration::from_secs(1);

/// One stream's stop signal: a flag, and a channel whose disconnection wakes a `send` waiting
/// on a full buffer.
struct StreamStop {
    stopped: AtomicBool,
    wake: Mutex<Option<Sender<()>>>,
}

impl StreamStop {
    fn new() -> (Arc<StreamStop>, Receiver<()>) {
        let (tx, rx) = bounded(0);
        let stop = StreamStop {
            stopped: AtomicBool::new(false),
            wake: Mutex::new(Some(tx)),
        };
        (Arc::new(stop), rx)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        // Disconnecting wakes a `send` waiting in `select!`.
        drop(self.wake.lock().take());
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// The streams open on one instance, which a reload, a stop or a removal ends.
///
/// A stream is registered once its call is admitted, with the generation of the code it runs
/// on; a reload retires the old generation under the same lock, so a stream admitted on the
/// old code just before the reload swapped it is ended too, whichever comes first — and one
/// admitted on the new code is not touched.
#[derive(Default)]
pub(crate) struct OpenStreams {
    inner: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    streams: Vec<(u32, Weak<StreamStop>)>,
    /// The generation a reload in progress is retiring.
    retired: Option<u32>,
}

impl OpenStreams {
    fn register(&self, stop: &Arc<StreamStop>, generation: u32) {
        let mut open = self.inner.lock();
        if open.retired == Some(generation) {
            stop.stop();
            return;
        }
        open.streams.retain(|(_, s)| s.strong_count() > 0);
        open.streams.push((generation, Arc::downgrade(stop)));
    }

    /// Stops every stream open now (a stop or a removal).
    pub(crate) fn end_all(&self) {
        let open = std::mem::take(&mut self.inner.lock().streams);
        for (_, stop) in open {
            if let Some(stop) = stop.upgrade() {
                stop.stop();
            }
        }
    }

    /// Stops the streams of code `generation`, and any registered on it from now on (a reload
    /// retiring it).
    pub(crate) fn retire(&self, generation: u32) {
        let mut open = self.inner.lock();
        open.retired = Some(generation);
        for (_, stop) in open.streams.iter().filter(|(g, _)| *g == generation) {
            if let Some(stop) = stop.upgrade() {
                stop.stop();
            }
        }
        open.streams.retain(|(g, _)| *g != generation);
    }

    /// Takes back [`retire`](Self::retire): the reload was rolled back, the old code serves
    /// again.
    pub(crate) fn unretire(&self) {
        self.inner.lock().retired = None;
    }
}

/// Counts a refused `send` and, past [`IGNORED_FREE`] of them, makes it wait: a plugin that
/// ignores the refusal idles instead of spinning.
fn refused_again(refusals: &mut u32, plugin: &str) -> PluginError {
    *refusals = refusals.saturating_add(1);
    if *refusals == IGNORED_FREE + 1 {
        tracing::warn!(
            target: "switchboard::stream",
            plugin,
            "a plugin goes on sending on a stopped stream; its sends are slowed down"
        );
    }
    if let Some(past) = refusals.checked_sub(IGNORED_FREE).filter(|p| *p > 0) {
        let wait = Duration::from_millis(1 << past.min(10)).min(IGNORED_MAX_WAIT);
        std::thread::sleep(wait);
    }
    cancelled()
}

/// The types a [`StreamCommand`] is made for: it takes `Req` and yields `Chunk`s and a `Summary`.
type StreamTypes<Req, Chunk, Summary> = PhantomData<fn(&Req) -> (Chunk, Summary)>;

/// A typed handle on a streaming command ([`PluginHandle::stream_command`]), resolved once.
///
/// [`PluginHandle::stream_command`]: crate::PluginHandle::stream_command
pub struct StreamCommand<Req, Chunk, Summary> {
    instance: Instance,
    binding: Binding,
    _types: StreamTypes<Req, Chunk, Summary>,
}

impl<Req, Chunk, Summary> Clone for StreamCommand<Req, Chunk, Summary> {
    fn clone(&self) -> Self {
        StreamCommand {
            instance: self.instance.clone(),
            binding: self.binding.clone(),
            _types: PhantomData,
        }
    }
}

impl<Req, Chunk, Summary> fmt::Debug for StreamCommand<Req, Chunk, Summary> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamCommand")
            .field("plugin", &self.instance.name())
            .field("command", &self.binding.name)
            .finish()
    }
}

/// What a finished stream reports ([`Stream::finish`], [`StreamCommand::call_streaming`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Streamed<Summary> {
    /// What the command returned after its last chunk; `None` when it stopped because the
    /// stream was cancelled.
    pub summary: Option<Summary>,
    /// Chunks the plugin sent that the host accepted.
    pub chunks: u64,
    /// Whether the stream was cancelled before the command finished (a chunk was refused
    /// because the consumer had stopped, or because the host ended the stream: the plugin
    /// was reloaded, stopped or removed).
    pub cancelled: bool,
    /// What the plugin reported with `ctx.usage` during the call.
    pub usage: Usage,
}

impl<Req: Message, Chunk: Message, Summary: Message> StreamCommand<Req, Chunk, Summary> {
    pub(crate) fn new(instance: Instance, binding: Binding) -> Self {
        StreamCommand {
            instance,
            binding,
            _types: PhantomData,
        }
    }

    /// The command's name.
    pub fn name(&self) -> &str {
        &self.binding.name
    }

    /// Starts the command on a thread of its own and returns the stream of its chunks, with
    /// room for [`DEFAULT_STREAM_CAPACITY`] chunks the consumer has not read yet.
    pub fn start(&self, request: &Req) -> Result<Stream<Chunk, Summary>, CallError> {
        self.start_with_capacity(request, DEFAULT_STREAM_CAPACITY)
    }

    /// [`start`](Self::start) with room for `capacity` unread chunks (at least 1): the
    /// plugin's `send` waits while that many are unread.
    pub fn start_with_capacity(
        &self,
        request: &Req,
        capacity: usize,
    ) -> Result<Stream<Chunk, Summary>, CallError> {
        let (tx, rx) = bounded(capacity.max(1));
        let (cancel, woken) = StreamStop::new();
        let mut req = Vec::new();
        request.__encode_into(&mut req);
        let mut receiver = ChannelReceiver {
            tx,
            cancel: cancel.clone(),
            woken: woken.clone(),
            refused: false,
            refusals: 0,
            accepted: 0,
            plugin: self.instance.name().to_owned(),
        };
        let (instance, binding) = (self.instance.clone(), self.binding.clone());
        let thread = std::thread::Builder::new()
            .name(format!("switchboard-stream-{}", instance.name()))
            .spawn(move || {
                let mut out = ResponseBuffer::new();
                let mut usage = Usage::default();
                let result =
                    instance.dispatch_stream(&binding, &req, &mut receiver, &mut out, &mut usage);
                drop(receiver.tx);
                let summary =
                    match result {
                        Err(e) => return Err(*e),
                        Ok(()) if out.as_slice().is_empty() && receiver.refused => None,
                        Ok(()) => Some(Summary::__decode(out.as_slice()).map_err(|e| {
                            CallError::Decode {
                                plugin: instance.name().to_owned(),
                                command: binding.name.clone(),
                                reason: e.message().to_owned(),
                            }
                        })?),
                    };
                Ok(Streamed {
                    summary,
                    chunks: receiver.accepted,
                    cancelled: receiver.refused,
                    usage,
                })
            })
            .map_err(|e| CallError::StreamThread {
                plugin: self.instance.name().to_owned(),
                command: self.binding.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(Stream {
            rx: Some(rx),
            woken,
            cancel,
            thread: Some(thread),
            plugin: self.instance.name().to_owned(),
            command: self.binding.name.clone(),
            _types: PhantomData,
        })
    }

    /// Calls the command on this thread, handing each chunk to `f` as the plugin sends it;
    /// `f` returns [`ControlFlow::Break`] to stop the stream (the plugin's next `send` is
    /// refused with `STREAM_CANCELLED`). No thread and no buffer: the plugin waits while `f`
    /// runs. A panic in `f` stops the stream and is resumed here once the plugin returned.
    ///
    /// ```no_run
    /// # use std::ops::ControlFlow;
    /// # fn demo(cmd: &switchboard_host::StreamCommand<String, String, u64>) -> Result<(), switchboard_host::CallError> {
    /// let mut text = String::new();
    /// let done = cmd.call_streaming(&"tell me".to_string(), |token| {
    ///     text.push_str(&token);
    ///     if text.len() > 100 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    /// })?;
    /// println!("{text} ({} chunks, cancelled: {})", done.chunks, done.cancelled);
    /// # Ok(()) }
    /// ```
    pub fn call_streaming(
        &self,
        request: &Req,
        mut f: impl FnMut(Chunk) -> ControlFlow<()>,
    ) -> Result<Streamed<Summary>, CallError> {
        let mut req = Vec::new();
        request.__encode_into(&mut req);
        let mut out = ResponseBuffer::new();
        let mut usage = Usage::default();
        let (stop, _woken) = StreamStop::new();
        let mut receiver = CallbackReceiver::<Chunk> {
            f: &mut f,
            stop,
            stopped: false,
            refused: false,
            refusals: 0,
            plugin: self.instance.name(),
            accepted: 0,
            undecodable: None,
            panic: None,
        };
        let result =
            self.instance
                .dispatch_stream(&self.binding, &req, &mut receiver, &mut out, &mut usage);
        if let Some(payload) = receiver.panic.take() {
            resume_unwind(payload);
        }
        if let Some(reason) = receiver.undecodable.take() {
            return Err(self.undecodable(reason));
        }
        result.map_err(|e| *e)?;
        let summary = if out.as_slice().is_empty() && receiver.refused {
            None
        } else {
            Some(
                Summary::__decode(out.as_slice())
                    .map_err(|e| self.undecodable(e.message().to_owned()))?,
            )
        };
        Ok(Streamed {
            summary,
            chunks: receiver.accepted,
            cancelled: receiver.refused,
            usage,
        })
    }

    fn undecodable(&self, reason: String) -> CallError {
        CallError::Decode {
            plugin: self.instance.name().to_owned(),
            command: self.binding.name.clone(),
            reason,
        }
    }
}

/// The producer's end of a [`Stream`]: chunks into the bounded channel.
struct ChannelReceiver {
    tx: Sender<Vec<u8>>,
    cancel: Arc<StreamStop>,
    /// Disconnected when the stream is stopped: wakes a `send` waiting for room.
    woken: Receiver<()>,
    refused: bool,
    refusals: u32,
    accepted: u64,
    plugin: String,
}

impl ChunkReceiver for ChannelReceiver {
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let sent = !self.cancel.is_stopped()
            && match self.tx.try_send(bytes.to_vec()) {
                Ok(()) => true,
                Err(TrySendError::Disconnected(_)) => false,
                // No room: wait for some, or for the stream to be stopped.
                Err(TrySendError::Full(chunk)) => crossbeam_channel::select! {
                    send(self.tx, chunk) -> sent => sent.is_ok(),
                    recv(self.woken) -> _ => false,
                },
            };
        if !sent {
            self.refused = true;
            return Err(refused_again(&mut self.refusals, &self.plugin));
        }
        self.accepted += 1;
        Ok(())
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_stopped()
    }
}

impl StreamReceiver for ChannelReceiver {
    fn refused(&self) -> bool {
        self.refused
    }

    fn admitted(&self, open: &OpenStreams, generation: u32) {
        open.register(&self.cancel, generation);
    }
}

/// [`StreamCommand::call_streaming`]'s receiver: each chunk decoded and handed to the
/// caller's closure.
struct CallbackReceiver<'f, Chunk> {
    f: &'f mut dyn FnMut(Chunk) -> ControlFlow<()>,
    /// The host's stop (a reload, a stop, a removal).
    stop: Arc<StreamStop>,
    /// The caller's closure stopped it.
    stopped: bool,
    refused: bool,
    refusals: u32,
    plugin: &'f str,
    accepted: u64,
    undecodable: Option<String>,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

impl<Chunk: Message> ChunkReceiver for CallbackReceiver<'_, Chunk> {
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        if self.stopped || self.stop.is_stopped() {
            self.refused = true;
            return Err(refused_again(&mut self.refusals, self.plugin));
        }
        let chunk = match Chunk::__decode(bytes) {
            Ok(c) => c,
            Err(e) => {
                self.undecodable = Some(e.message().to_owned());
                self.stopped = true;
                self.refused = true;
                return Err(cancelled());
            }
        };
        self.accepted += 1;
        match catch_unwind(AssertUnwindSafe(|| (self.f)(chunk))) {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => self.stopped = true,
            Err(payload) => {
                self.panic = Some(payload);
                self.stopped = true;
            }
        }
        Ok(())
    }

    fn is_cancelled(&self) -> bool {
        self.stopped || self.stop.is_stopped()
    }
}

impl<Chunk: Message> StreamReceiver for CallbackReceiver<'_, Chunk> {
    fn refused(&self) -> bool {
        self.refused
    }

    fn admitted(&self, open: &OpenStreams, generation: u32) {
        open.register(&self.stop, generation);
    }
}

/// The chunks of a running streaming command ([`StreamCommand::start`]), in the order the
/// plugin sent them.
///
/// Iterate it for the chunks (an item is an error only when a chunk does not decode as
/// `Chunk`, which also cancels the stream), then call [`finish`](Stream::finish) for the
/// command's summary, its usage and its error, if it failed. [`cancel`](Stream::cancel) stops
/// it early; dropping it cancels it too (without waiting for the plugin to notice).
pub struct Stream<Chunk, Summary> {
    rx: Option<Receiver<Vec<u8>>>,
    /// Disconnected when the stream is stopped (by the host too): the consumer stops waiting.
    woken: Receiver<()>,
    cancel: Arc<StreamStop>,
    thread: Option<JoinHandle<Result<Streamed<Summary>, CallError>>>,
    plugin: String,
    command: String,
    _types: PhantomData<fn() -> Chunk>,
}

impl<Chunk, Summary> fmt::Debug for Stream<Chunk, Summary> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("plugin", &self.plugin)
            .field("command", &self.command)
            .field("cancelled", &self.cancel.is_stopped())
            .finish()
    }
}

impl<Chunk: Message, Summary> Stream<Chunk, Summary> {
    /// Stops the stream: the chunks not read yet are dropped, and the plugin's `send` (one
    /// waiting now, and every later one) returns `STREAM_CANCELLED`, so a plugin that returns
    /// that error ends at its next chunk. [`finish`](Self::finish) then waits for it.
    pub fn cancel(&mut self) {
        self.cancel.stop();
        self.rx = None;
    }

    /// Whether the stream was stopped: [`cancel`](Self::cancel) was called, a chunk did not
    /// decode, or the host ended it (the plugin was reloaded, stopped or removed).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_stopped()
    }

    /// Waits for the command to end and returns what it reported: its summary, how many
    /// chunks it sent, whether it was cancelled, its usage. Chunks not read yet are dropped
    /// (the stream is cancelled first if the command is still sending), so read them before.
    ///
    /// # Errors
    ///
    /// The command's error (its own, a panic — `SB0101`, which also fails the plugin — or a
    /// chunk over the size limit, `SB0310`), or a summary that does not decode.
    pub fn finish(mut self) -> Result<Streamed<Summary>, CallError> {
        self.cancel();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            // The producer catches the plugin's panics (the adapter guards every entry), so a
            // panic here is the host's own: pass it on.
            Some(Err(payload)) => resume_unwind(payload),
            None => Err(CallError::StreamThread {
                plugin: self.plugin.clone(),
                command: self.command.clone(),
                reason: "the stream was already finished".into(),
            }),
        }
    }
}

impl<Chunk: Message, Summary> Iterator for Stream<Chunk, Summary> {
    type Item = Result<Chunk, CallError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = receive(self.rx.as_ref()?, &self.woken)?;
        match Chunk::__decode(&bytes) {
            Ok(chunk) => Some(Ok(chunk)),
            Err(e) => {
                self.cancel();
                Some(Err(CallError::Decode {
                    plugin: self.plugin.clone(),
                    command: self.command.clone(),
                    reason: e.message().to_owned(),
                }))
            }
        }
    }
}

/// Yields to other threads this many times, looking for a chunk, before the consumer sleeps.
const SPINS: u32 = 64;

/// The next chunk, or `None` once the producer is done or the stream was stopped (what was
/// buffered before the stop is still read). A consumer that is ahead looks again a few times,
/// yielding in between, before it blocks: a producer that finds it not blocked sends without
/// waking anyone, which saves a futex wake and two context switches per chunk.
fn receive(rx: &Receiver<Vec<u8>>, woken: &Receiver<()>) -> Option<Vec<u8>> {
    for _ in 0..SPINS {
        match rx.try_recv() {
            Ok(bytes) => return Some(bytes),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    crossbeam_channel::select! {
        recv(rx) -> bytes => bytes.ok(),
        // Stopped: what is buffered, then the end — without waiting for the plugin to return.
        recv(woken) -> _ => rx.try_recv().ok(),
    }
}

impl<Chunk, Summary> Drop for Stream<Chunk, Summary> {
    fn drop(&mut self) {
        self.cancel.stop();
        self.rx = None;
    }
}
