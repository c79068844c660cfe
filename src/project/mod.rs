//! The project on disk: the database folder and what it holds (`layout`), migration files
//! (`migrations`) and making new ones (`scaffold`), snapshot files and their headers (`snapshot`), validation checks and
//! what they expect (`validation`), the connection settings a project configures
//! (`settings`), and finding the project root and reading its `.env` files (`env`).
//! Nothing here talks to a database.

pub mod config;
pub mod env;
pub mod layout;
pub mod migrations;
pub mod scaffold;
pub mod settings;
pub mod snapshot;
pub mod validation;
