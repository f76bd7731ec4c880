use switchboard_sdk::prelude::*;

pub struct Echo<T>(T);

impl<T: Default + Send + Sync + 'static> Plugin for Echo<T> {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Echo(T::default()))
    }
}

#[plugin]
impl<T: Default + Send + Sync + 'static> Echo<T> {
    #[command]
    fn echo(&self, text: String) -> String {
        text
    }
}

fn main() {}
