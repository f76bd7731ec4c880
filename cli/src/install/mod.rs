//! `switchboard install`, `update`, `rollback`, `remove`, `enable`, `disable`, `list` and
//! `generations`: the operator's commands over a host's installed generations.

pub mod review;
pub mod args;
pub mod progress;
