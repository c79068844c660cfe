//! dbkit: a snapshot-plus-migrations toolkit for PostgreSQL.
//!
//! A team keeps its schema in a `database/` folder: numbered migrations are the source of
//! truth, and phase snapshots let a new environment be built quickly. This library holds
//! everything; the programs in `src/bin/` parse arguments, call one function here and
//! render the result.
//!
//! The folders, top to bottom (a module uses only those below it): `report` renders;
//! `ops`, `phase` and `apply` are the capabilities; `ddl` analyses statements; `pg` talks
//! to PostgreSQL; `project` reads the database folder; `sql` splits SQL text; `error` is
//! the one error type.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
pub mod cli;
pub mod ddl;
pub mod drift;
pub mod error;
pub mod meter;
pub mod ops;
pub mod pg;
pub mod phase;
pub mod project;
pub mod report;
pub mod sql;
pub mod testing;

pub use error::{Error, Result};
