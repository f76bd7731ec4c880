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
    fn count(&self, to: u32, raw: &mut Output<'_>, out: &mut Sink<'_, u32>) -> Result<u32, PluginError> {
        let _ = raw;
        out.send(to)?;
        Ok(to)
    }
}

fn main() {}
