use switchboard_sdk::prelude::*;

pub struct Gen;

impl Plugin for Gen {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Gen)
    }
}

#[plugin]
impl Gen {
    #[command]
    fn count(&self, to: u32, out: &mut Sink) -> u32 {
        let _ = out;
        to
    }
}

fn main() {}
