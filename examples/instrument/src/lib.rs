//! An "instrument" plugin (SPEC S1.6): `generate` streams its answer one token at a time, as a
//! language model would, and reports the tokens it produced with `ctx.usage`, so the host can
//! meter them; `count_tokens` reports usage from a plain command.
//!
//! The "model" echoes the prompt's words, which keeps the example deterministic: what the demo
//! and the tests claim can be checked.

use switchboard_sdk::prelude::*;

/// No state: every call stands alone.
#[derive(Debug)]
pub struct Instrument;

impl Plugin for Instrument {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Instrument)
    }
}

#[plugin]
impl Instrument {
    /// Streams the answer to `prompt`, one token (a word and its space) per chunk, and returns
    /// how many tokens it sent. Reports `requests` (1) and `tokens` (those delivered — also
    /// when the consumer stops the stream early: what was delivered is billed).
    #[command]
    fn generate(
        &self,
        ctx: &Context,
        prompt: String,
        out: &mut Sink<'_, String>,
    ) -> Result<u64, PluginError> {
        ctx.usage("requests", 1)?;
        let mut sent = 0;
        for word in prompt.split_whitespace() {
            if let Err(stopped) = out.send(format!("{word} ")) {
                ctx.usage("tokens", sent)?;
                return Err(stopped);
            }
            sent += 1;
        }
        ctx.usage("tokens", sent)?;
        Ok(sent)
    }

    /// Counts the tokens of `prompt` without streaming, and reports them as usage.
    #[command]
    fn count_tokens(&self, ctx: &Context, prompt: String) -> Result<u64, PluginError> {
        let n = prompt.split_whitespace().count() as u64;
        ctx.usage("tokens", n)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;

    #[test]
    fn streams_tokens_and_reports_usage() {
        let host = MockHost::new("instrument");
        let plugin = host.instantiate::<Instrument>().unwrap();
        let run = plugin
            .stream::<String, String, u64>("generate", &"to be or not".to_string())
            .unwrap();
        assert_eq!(run.chunks.concat(), "to be or not ");
        assert_eq!(run.summary.unwrap(), 4);
        assert_eq!(host.usage()["tokens"], 4);
        assert_eq!(host.usage()["requests"], 1);
    }

    #[test]
    fn a_stopped_stream_bills_what_was_delivered() {
        let host = MockHost::new("instrument");
        let plugin = host.instantiate::<Instrument>().unwrap();
        let run = plugin
            .stream_until::<String, String, u64>("generate", &"a b c d e f".to_string(), 2)
            .unwrap();
        assert_eq!(run.chunks, ["a ", "b "]);
        assert!(run.cancelled);
        assert_eq!(run.summary.unwrap_err().code().to_string(), "SB1732");
        assert_eq!(host.usage()["tokens"], 2);
    }
}
