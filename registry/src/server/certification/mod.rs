//! placeholder
pub mod advisories;
pub mod checks;
