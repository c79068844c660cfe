//! Phase snapshots as a lead cuts them: `cut` (what `create-phase-snapshot` does, from
//! refusal to verified file) and `changelog` (the `SCHEMA_CHANGES.md` entry). The
//! snapshot files themselves, their names and headers, belong to `project::snapshot`.

pub mod changelog;
pub mod cut;
