use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

#[plugin]
impl Greeter {
    #[command]
    fn checksum(&self, out: &mut Output<'_>, input: &[u8]) {
        let sum: u64 = input.iter().map(|&b| u64::from(b)).sum();
        out.extend_from_slice(&sum.to_le_bytes());
    }
}

fn main() {}
