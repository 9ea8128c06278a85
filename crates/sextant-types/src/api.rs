//! Shapes shared by the server and its clients that are not domain objects themselves.

use serde::{Deserialize, Serialize};

/// MLflow's page token: `base64(json{"offset": N})`, opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetToken {
    pub offset: u64,
}
