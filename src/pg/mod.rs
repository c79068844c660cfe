//! Everything that talks to PostgreSQL itself rather than to dbkit's records: connecting
//! (`connect`), the local cluster dbkit runs (`cluster`), finding and running its programs
//! (`tools`, `dump`), the migration lock (`lock`), and reading or comparing catalogs
//! (`inspect`, `compare`).

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod connect;
pub mod dump;
pub mod inspect;
pub mod interrupt;
pub mod lock;
pub mod tools;
