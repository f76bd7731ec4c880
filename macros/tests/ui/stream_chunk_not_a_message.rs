use switchboard_sdk::prelude::*;

pub struct Gen;

impl Plugin for Gen {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Gen)
    }
}

pub struct NotAMessage;

#[plugin]
impl Gen {
    #[command]
    fn count(&self, to: u32, out: &mut Sink<'_, NotAMessage>) -> u32 {
        let _ = out;
        to
    }
}

fn main() {}
