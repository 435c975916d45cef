//! What the integration tests share.

pub(crate) mod aircall;
pub(crate) mod cli;
pub(crate) mod serve;
pub(crate) mod store;
