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
    fn count(&self, out: &mut Sink<'_, u32>, to: u32) -> Result<u32, PluginError> {
        out.send(to)?;
        Ok(to)
    }
}

fn main() {}
