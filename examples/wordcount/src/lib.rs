//! `wordcount`, a second example plugin: text statistics. Loaded beside `hello`, it shows two
//! plugins in one process, each answering with its own code.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

/// Counts in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Stats {
    /// Whitespace-separated words.
    pub words: u64,
    /// Lines (a final line without a newline counts).
    pub lines: u64,
    /// Unicode scalar values.
    pub chars: u64,
}

/// The plugin.
#[derive(Debug)]
pub struct WordCount;

impl Plugin for WordCount {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(WordCount)
    }
}

#[plugin]
impl WordCount {
    /// Counts words, lines and characters.
    #[command]
    fn count(&self, text: String) -> Stats {
        Stats {
            words: text.split_whitespace().count() as u64,
            lines: text.lines().count() as u64,
            chars: text.chars().count() as u64,
        }
    }

    /// Identifies the plugin answering, so tests can tell plugins apart.
    #[command]
    fn whoami(&self) -> String {
        "wordcount".to_string()
    }

    /// The longest word; texts over 1 MiB are refused with a coded error.
    #[command]
    fn longest_word(&self, text: String) -> Result<String, PluginError> {
        if text.len() > 1 << 20 {
            return Err(PluginError::new("text longer than 1 MiB").next_step("split the text"));
        }
        Ok(text
            .split_whitespace()
            .max_by_key(|w| w.chars().count())
            .unwrap_or_default()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;

    #[test]
    fn counts() {
        let host = MockHost::new("wordcount");
        let wc = host.instantiate::<WordCount>().unwrap();
        let s: Stats = wc.call("count", &"one two\nthree".to_string()).unwrap();
        assert_eq!(
            s,
            Stats {
                words: 3,
                lines: 2,
                chars: 13
            }
        );
        let w: String = wc.call("longest_word", &"a abc ab".to_string()).unwrap();
        assert_eq!(w, "abc");
    }
}
