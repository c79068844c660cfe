//! The integration tests: one test binary, so the whole suite shares one throwaway
//! PostgreSQL server (`util::server`), each test with databases of its own. Each
//! module is what was once a test binary of its own.

#[macro_use]
mod util;

mod apply;
mod backup;
mod connection;
mod consistency;
mod corpora;
mod document;
mod document_cli;
mod document_down;
mod drift;
mod er_diagram;
mod fresh;
mod new_migration;
mod operations;
mod output;
mod quirks;
mod reversibility;
mod seed;
mod snapshot;
mod throwaway;
mod trust;
mod validation;
