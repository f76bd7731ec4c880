//! A test-only plugin for streaming commands and usage (SPEC S1.6); it lives under `tests/` and
//! is never shipped as an example. `count` streams numbered chunks and meters them; its
//! request can make it panic after some chunks or go on past a cancellation, and `progress`
//! and `observed` let a test see from outside what the stream did.

use serde::{Deserialize, Serialize};
use switchboard_sdk::Message;

/// What `count` is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
pub struct Run {
    /// How many chunks to send.
    pub chunks: u64,
    /// Panic after sending this many chunks.
    pub panic_after: Option<u64>,
    /// Bytes of padding in each chunk.
    pub pad: u32,
    /// Refused sends to ignore (going on sending) before returning the refusal: a plugin that
    /// does not check its stream's cancellation.
    pub ignore_refusals: u64,
}

/// One chunk.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
pub struct Tick {
    /// 0, 1, 2… in the order sent.
    pub seq: u64,
    /// Padding, `Run::pad` bytes.
    pub pad: Vec<u8>,
}

/// What `count` returns after its last chunk.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
pub struct Done {
    /// Chunks sent.
    pub sent: u64,
}

#[cfg(feature = "plugin")]
pub use self::plugin::Streamer;

#[cfg(feature = "plugin")]
mod plugin {
    use std::sync::atomic::{AtomicU64, Ordering};

    use switchboard_sdk::codes;
    use switchboard_sdk::prelude::*;

    use super::{Done, Run, Tick};

    /// Counters a test reads through `progress` and `observed`.

    #[derive(Debug, Default)]
    pub struct Streamer {
        /// Sends that returned (accepted by the host), over every stream.
        sent: AtomicU64,
        /// Streams that ended because their `send` reported a cancellation.
        cancelled: AtomicU64,
    }

    impl Plugin for Streamer {
        fn create(_ctx: &Context) -> Result<Self, PluginError> {
            Ok(Streamer::default())
        }
    }

    #[plugin]
    impl Streamer {
        /// Streams `run.chunks` ticks; meters one `ticks` per accepted chunk (also when the stream
        /// is cancelled: what was delivered is billed) and one `runs`.
        #[command]
        fn count(
            &self,
            ctx: &Context,
            run: Run,
            out: &mut Sink<'_, Tick>,
        ) -> Result<Done, PluginError> {
            ctx.usage("runs", 1)?;
            let pad = vec![7u8; run.pad as usize];
            let mut sent = 0;
            let mut ignored = 0;
            for seq in 0..run.chunks {
                if run.panic_after == Some(seq) {
                    panic!("streamer panics after {seq} chunks");
                }
                let tick = Tick {
                    seq,
                    pad: pad.clone(),
                };
                if let Err(e) = out.send(tick) {
                    if e.code() == codes::STREAM_CANCELLED && ignored < run.ignore_refusals {
                        ignored += 1;
                        continue;
                    }
                    ctx.usage("ticks", sent)?;
                    if e.code() == codes::STREAM_CANCELLED {
                        self.cancelled.fetch_add(1, Ordering::SeqCst);
                    }
                    return Err(e);
                }
                sent += 1;
                self.sent.fetch_add(1, Ordering::SeqCst);
            }
            ctx.usage("ticks", sent)?;
            Ok(Done { sent })
        }

        /// Sends that returned so far, over every stream.
        #[command]
        fn progress(&self) -> u64 {
            self.sent.load(Ordering::SeqCst)
        }

        /// Streams that stopped on a cancellation so far.
        #[command]
        fn observed(&self) -> u64 {
            self.cancelled.load(Ordering::SeqCst)
        }

        /// Reports `n` `background` from a thread of its own (outside any call), and `n`
        /// `foreground` from the command's thread; joins the thread before returning.
        #[command]
        fn background(&self, ctx: &Context, n: u64) -> Result<(), PluginError> {
            let theirs = ctx.clone();
            let reported = std::thread::spawn(move || theirs.usage("background", n))
                .join()
                .map_err(|_| PluginError::new("the reporting thread panicked"))?;
            reported?;
            ctx.usage("foreground", n)
        }

        /// Reports one `many` `n` times, then units `u0`, `u1`, … until the host refuses one:
        /// returns the number of the refused unit and the refusal's code.
        #[command]
        fn units(&self, ctx: &Context, n: u32) -> Result<String, PluginError> {
            for _ in 0..n {
                ctx.usage("many", 1)?;
            }
            for i in 1..=64u32 {
                if let Err(e) = ctx.usage(&format!("u{i}"), 1) {
                    return Ok(format!("{i} {}", e.code()));
                }
            }
            Ok("none refused".to_owned())
        }

        /// A plain command that meters: `n` `words`, and a bad unit name refused.
        #[command]
        fn words(&self, ctx: &Context, n: u64) -> Result<String, PluginError> {
            ctx.usage("words", n)?;
            let refused = ctx.usage("Bad Unit", 1).err().map(|e| e.code().to_string());
            Ok(refused.unwrap_or_default())
        }
    }
}
