use switchboard_sdk::hook;
use switchboard_sdk::prelude::*;

pub struct Stamp;

impl Plugin for Stamp {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stamp)
    }
}

impl Stamp {
    #[hook("doc.title", filter)]
    pub fn stamp(&self, title: String) -> String {
        title
    }
}

fn main() {}
