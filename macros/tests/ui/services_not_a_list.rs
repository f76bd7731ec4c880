use switchboard_sdk::prelude::*;

pub struct Tools;

impl Plugin for Tools {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Tools)
    }
}

#[plugin(services = "text.tools")]
impl Tools {
    #[command]
    fn upper(&self, text: String) -> String {
        text.to_uppercase()
    }
}

fn main() {}
