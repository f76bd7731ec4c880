use switchboard_sdk::prelude::*;

pub struct Stamp;

impl Plugin for Stamp {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stamp)
    }
}

#[plugin(capabilities = ["extend:**"])]
impl Stamp {
    #[command]
    fn stamp(&self, title: String) -> String {
        title
    }

    #[hook("doc.title", filter, name = "stamp")]
    fn stamp_title(&self, title: String) -> String {
        title
    }
}

fn main() {}
