//! Daily operations on a database: backups (`backup`) and their restore (`restore`),
//! resetting a development database (`reset`), loading reference data and fixtures
//! (`seed`), fresh seeded databases cloned from a template (`fresh`), and the guard that decides whether a destructive operation may touch a
//! database (`guard`).

pub mod backup;
pub mod fresh;
pub mod guard;
pub mod reset;
pub mod restore;
pub mod seed;
