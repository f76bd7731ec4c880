//! A test-only plugin for the extension-point bench (`extend/filter_4`, `extend/wrap_4`) and
//! tests (issue 19); it lives under `tests/` and is never shipped as an example. Its four
//! contributions to the filter point `tally.count` each append a digit (`n * 10 + d`), so the
//! result shows that all four ran, and in which order; its four wrappers on the operation
//! point `tally.wrap` do the same to the input they pass to `next`.

use switchboard_sdk::extend::Next;
use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct Tally;

impl Plugin for Tally {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Tally)
    }
}

#[plugin(capabilities = ["extend:tally.*"])]
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

    #[hook("tally.wrap", wrap, priority = 4)]
    fn wrap_one(&self, n: u64, next: Next<u64, u64>) -> Result<u64, PluginError> {
        next.call(n.wrapping_mul(10).wrapping_add(1))
    }

    #[hook("tally.wrap", wrap, priority = 3)]
    fn wrap_two(&self, n: u64, next: Next<u64, u64>) -> Result<u64, PluginError> {
        next.call(n.wrapping_mul(10).wrapping_add(2))
    }

    #[hook("tally.wrap", wrap, priority = 2)]
    fn wrap_three(&self, n: u64, next: Next<u64, u64>) -> Result<u64, PluginError> {
        next.call(n.wrapping_mul(10).wrapping_add(3))
    }

    #[hook("tally.wrap", wrap, priority = 1)]
    fn wrap_four(&self, n: u64, next: Next<u64, u64>) -> Result<u64, PluginError> {
        next.call(n.wrapping_mul(10).wrapping_add(4))
    }
}
