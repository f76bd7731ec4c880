//! The demo's streaming tour (SPEC S1.6): the example plugin `instrument` streams an answer
//! token by token and reports the tokens it used; the host reads the stream as it comes,
//! cancels a second one part way, and shows the usage it metered — per call, in its metrics,
//! and stored for billing. Each claim is checked.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use switchboard_host::Host;

use super::Report;
use crate::examples::{self, Profile};

const PROMPT: &str = "streams carry answers one token at a time while the host meters them";

/// Runs the tour in a host of its own in `data_dir`.
pub(super) fn run(r: &mut Report<'_>, data_dir: &Path, profile: Profile) -> Result<()> {
    let mut builder = Host::builder();
    builder
        .data_dir(data_dir)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"));
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;
    let instrument = host.load_unsigned(examples::library(profile, "instrument")?)?;
    instrument.start()?;
    let generate = instrument.stream_command::<String, String, u64>("generate")?;

    // Read to the end, chunk by chunk.
    let mut stream = generate.start(&PROMPT.to_owned())?;
    let mut text = String::new();
    let mut chunks = 0u64;
    for token in &mut stream {
        text.push_str(&token?);
        chunks += 1;
    }
    let done = stream.finish()?;
    let words = PROMPT.split_whitespace().count() as u64;

    // Stop after three tokens: the plugin's next `send` is refused and it ends.
    let mut partial = generate.start_with_capacity(&PROMPT.to_owned(), 1)?;
    let first: Vec<String> = (&mut partial).take(3).collect::<Result<_, _>>()?;
    partial.cancel();
    let stopped = partial.finish()?;

    // What the host metered, and what it stored for billing.
    let metered = host
        .metrics()
        .plugins
        .get("instrument")
        .map(|p| p.usage_total())
        .unwrap_or_default();
    let now = SystemTime::now();
    let stored = host.usage(
        now - Duration::from_secs(3600),
        now + Duration::from_secs(60),
    )?;
    let tokens = done.usage.get("tokens") + stopped.usage.get("tokens");
    r.say(
        "Streaming: instrument streamed its answer token by token, a second stream was cancelled after 3 tokens, and the tokens were metered",
        text.trim_end() == PROMPT
            && chunks == words
            && done.summary == Some(words)
            && done.usage.get("tokens") == words
            && first.len() == 3
            && stopped.cancelled
            && stopped.summary.is_none()
            && (3..=4).contains(&stopped.chunks)
            && stopped.usage.get("tokens") == stopped.chunks
            && metered.get("tokens") == Some(&tokens)
            && stored.total("instrument", "tokens") == tokens
            && stored.total("instrument", "requests") == 2,
        format!(
            "generate(\"{PROMPT}\"): {chunks} chunks → \"{}\", summary {:?}, usage {:?}\n\
             cancelled after {:?}: cancelled = {}, {} chunks accepted, usage {:?}\n\
             metrics: {metered:?}; stored for billing: {} tokens, {} requests",
            text.trim_end(),
            done.summary,
            done.usage.as_map(),
            first.concat().trim_end(),
            stopped.cancelled,
            stopped.chunks,
            stopped.usage.as_map(),
            stored.total("instrument", "tokens"),
            stored.total("instrument", "requests"),
        ),
    )?;
    Ok(())
}
