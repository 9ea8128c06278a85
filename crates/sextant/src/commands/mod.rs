//! One module per command.

pub mod models;
pub mod run;
pub mod server;
