//! One module per command.

pub mod compare;
pub mod data;
pub mod models;
pub mod pipeline;
pub mod run;
pub mod serve;
pub mod server;
pub mod token;
