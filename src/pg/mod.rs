//! Everything that talks to PostgreSQL itself rather than to dbkit's records: connecting
//! (`connect`), creating a missing database (`create`), the local cluster dbkit runs
//! (`cluster`) and where it lives (`home`), finding and running its programs (`tools`,
//! `dump`), the migration lock (`lock`), reading or comparing catalogs (`inspect`,
//! `compare`, `model` for the tables an ER diagram draws, and `reprint`, which tells an expression printed differently from a changed
//! one), the throwaway databases dbkit makes and drops (`scratch`), and the template
//! databases fresh ones are cloned from (`template`).

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod connect;
pub mod create;
pub mod dump;
pub mod home;
pub mod inspect;
pub mod interrupt;
pub mod lock;
pub mod model;
pub mod reprint;
pub mod scratch;
pub mod template;
pub mod tools;
