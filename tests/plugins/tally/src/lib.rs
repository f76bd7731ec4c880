//! A test-only plugin for the extension-point bench (`extend/filter_4`) and tests (issue 19);
//! it lives under `tests/` and is never shipped as an example. Its four contributions to the
//! filter point `tally.count` each append a digit (`n * 10 + d`), so the result shows that all
//! four ran, and in which order.

use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct Tally;

impl Plugin for Tally {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Tally)
    }
}

#[plugin(capabilities = ["extend:tally.count"])]
impl Tally {
    #[hook("tally.count", filter, priority = 4)]
    fn one(&self, n: u64) -> u64 {
        n.wrapping_mul(10).wrapping_add(1)
    }

    #[hook("tally.count", filter, priority = 3)]
    fn two(&self, n: u64) -> u64 {
        n.wrapping_mul(10).wrapping_add(2)
    }

    #[hook("tally.count", filter, priority = 2)]
    fn three(&self, n: u64) -> u64 {
        n.wrapping_mul(10).wrapping_add(3)
    }

    #[hook("tally.count", filter, priority = 1)]
    fn four(&self, n: u64) -> u64 {
        n.wrapping_mul(10).wrapping_add(4)
    }
}
