//! A streaming command and usage reports compile, and the manifest records the chunk contract.
use switchboard_sdk::prelude::*;
use switchboard_sdk::{EmbeddedManifest, PluginEntry};

pub struct Gen;

impl Plugin for Gen {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Gen)
    }
}

#[plugin]
impl Gen {
    /// Streams 1..=to, returns the count.
    #[command]
    fn count(&self, ctx: &Context, to: u32, out: &mut Sink<'_, u32>) -> Result<u32, PluginError> {
        for i in 1..=to {
            out.send(i)?;
        }
        ctx.usage("numbers", u64::from(to))?;
        Ok(to)
    }

    /// No request, no summary.
    #[command]
    fn ticks(&self, out: &mut Sink<'_, String>) -> Result<(), PluginError> {
        out.send("tick".to_string())
    }

    /// A plain command beside them.
    #[command]
    fn plain(&self, x: u32) -> u32 {
        x
    }
}

fn main() {
    let m: EmbeddedManifest = serde_json::from_slice(<Gen as PluginEntry>::MANIFEST).unwrap();
    assert_eq!(m.commands[0].stream.as_deref(), Some("u32@1"));
    assert_eq!(m.commands[1].stream.as_deref(), Some("string@1"));
    assert_eq!(m.commands[2].stream, None);
}
