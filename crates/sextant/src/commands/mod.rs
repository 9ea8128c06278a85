//! One module per command.

pub mod server;
