use switchboard_sdk::prelude::*;

pub struct Stamp;

impl Plugin for Stamp {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stamp)
    }
}

#[plugin(capabilities = ["extend:**"])]
impl Stamp {
    #[hook("doc.title", filter)]
    #[hook("doc.subtitle", filter)]
    fn stamp(&self, title: String) -> String {
        title
    }
}

fn main() {}
