//! One module per command.

pub mod models;
pub mod server;
