//! Trust levels live with packages, where signatures earn them; capabilities and policy use the
//! same type.

pub use crate::package::{TrustLevel, TrustLevelError};
