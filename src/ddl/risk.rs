//! The rules behind risk notes that need more than one fact: which defaults rewrite a
//! table, which type changes are free, when an index build blocks writes. Each rule
//! explains itself in one line and names what to do instead.

use super::analyze::Ctx;
use super::summary::{ColumnDef, RiskKind};

/// Functions whose value differs per row: as a default of an added column they force a
/// table rewrite (PostgreSQL 11+ stores non-volatile defaults without one).
const VOLATILE: &[&str] = &[
    "random(",
    "gen_random_uuid(",
    "uuid_generate_v",
    "clock_timestamp(",
    "timeofday(",
    "nextval(",
];

/// A column added to a table that already has rows.
pub fn added_column(ctx: &mut Ctx<'_>, table: &str, column: &ColumnDef) {
    let name = &column.name;
    let serial = ["serial", "bigserial", "smallserial"].contains(&column.data_type.as_str());
    let volatile = column
        .default
        .as_deref()
        .is_some_and(|d| VOLATILE.iter().any(|f| d.to_lowercase().contains(f)));
    if serial
        || volatile
        || column
            .generated
            .as_deref()
            .is_some_and(|g| g.to_uppercase().contains("STORED"))
    {
        ctx.risk(
            RiskKind::TableRewrite,
            format!("adding `{table}.{name}` with a per-row value rewrites the table under an ACCESS EXCLUSIVE lock; add it without the default, backfill in batches, then set the default"),
        );
    }
    if !column.nullable && column.default.is_none() && column.generated.is_none() && !serial {
        ctx.risk(
            RiskKind::NotNullWithoutDefault,
            format!("`{table}.{name}` is NOT NULL without a default: the statement fails if `{table}` has rows"),
        );
    }
}

/// A constraint added to a table that already has rows.
pub fn added_constraint(ctx: &mut Ctx<'_>, table: &str, label: &str, not_valid: bool) {
    match label {
        "primary key" | "unique constraint" => ctx.risk(
            RiskKind::LongLock,
            format!("adding a {label} to `{table}` builds its index under an ACCESS EXCLUSIVE lock; build the index CONCURRENTLY first and add the constraint `USING INDEX`"),
        ),
        "foreign key" | "check constraint" if !not_valid => ctx.risk(
            RiskKind::LongLock,
            format!("adding a {label} to `{table}` checks every row while holding a lock; add it `NOT VALID`, then `VALIDATE CONSTRAINT` separately"),
        ),
        _ => {}
    }
}

/// Type changes that PostgreSQL makes without touching the rows.
fn binary_compatible(from: &str, to: &str) -> bool {
    let varchar = |t: &str| t.starts_with("varchar") || t.starts_with("character varying");
    let length = |t: &str| {
        t.split(['(', ')'])
            .nth(1)
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    (varchar(from) && to == "text")
        || (varchar(from)
            && varchar(to)
            && matches!((length(from), length(to)), (Some(a), Some(b)) if b >= a))
        || (varchar(from) && varchar(to) && length(to).is_none())
}

/// A column's type changed on a table that already has rows.
pub fn type_change(ctx: &mut Ctx<'_>, table: &str, column: &str, from: &str, to: &str) {
    if binary_compatible(from, to) {
        return;
    }
    ctx.risk(
        RiskKind::TableRewrite,
        format!("changing `{table}.{column}` from {from} to {to} rewrites the table and its indexes under an ACCESS EXCLUSIVE lock"),
    );
}

/// An index built or dropped: without CONCURRENTLY on an existing table it blocks
/// writes; with CONCURRENTLY inside the file's own transaction block it fails.
pub fn index(ctx: &mut Ctx<'_>, table: &str, concurrently: bool, name: &str, dropped: bool) {
    let verb = if dropped { "dropping" } else { "building" };
    if concurrently && ctx.in_transaction_block {
        ctx.risk(
            RiskKind::ConcurrentlyInTransaction,
            format!("{verb} index `{name}` CONCURRENTLY inside the file's BEGIN ... COMMIT fails: CONCURRENTLY cannot run in a transaction block"),
        );
    } else if !concurrently && ctx.existing(table) {
        ctx.risk(
            RiskKind::BlockingIndex,
            format!("{verb} index `{name}` on existing table `{table}` without CONCURRENTLY blocks writes to it until done"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::binary_compatible;

    #[test]
    fn knows_which_type_changes_are_free() {
        assert!(binary_compatible("varchar(50)", "text"));
        assert!(binary_compatible("varchar(50)", "varchar(100)"));
        assert!(!binary_compatible("varchar(100)", "varchar(50)"));
        assert!(!binary_compatible("integer", "bigint"));
        assert!(!binary_compatible("text", "jsonb"));
    }
}
