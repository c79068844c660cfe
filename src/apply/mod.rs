//! Applying a schema: deciding where a database stands and what applying would do
//! (`plan`, `status`), carrying it out (`run`, `script`, and `chunked` for a large snapshot) under the history it keeps
//! (`history`), the integrity checks run afterwards (`validate`), and the way back
//! (`rollback`) with its proof (`verify`). It owns the answer
//! to "where does this database stand"; the other capabilities ask it.

pub mod chunked;
pub mod history;
mod pipeline;
pub mod plan;
pub mod rollback;
pub mod run;
pub mod script;
mod statements;
pub mod status;
pub mod validate;
pub mod verify;
