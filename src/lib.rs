//! dbkit: a snapshot-plus-migrations toolkit for PostgreSQL.
//!
//! A team keeps its schema in a `database/` folder: numbered migrations are the source of
//! truth, and phase snapshots let a new environment be built quickly. This library holds
//! everything; the programs in `src/bin/` parse arguments, call one function here and
//! render the result.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
pub mod backup;
pub mod changelog;
pub mod cli;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod db;
pub mod ddl;
pub mod error;
pub mod guard;
pub mod history;
pub mod inspect;
pub mod layout;
pub mod lock;
pub mod migrations;
pub mod pgdump;
pub mod pgtools;
pub mod phase;
pub mod plan;
pub mod report;
pub mod reset;
pub mod restore;
pub mod script;
pub mod seed;
pub mod snapshot;
pub mod sql;
pub mod status;
pub mod validate;

pub use error::{Error, Result};
