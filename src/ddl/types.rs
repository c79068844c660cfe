//! `CREATE TYPE`, `ALTER TYPE` and domains: enums with their labels in order, values
//! added (with their position) or renamed, and the type entries of the summary.

use sqlparser::ast::{
    AlterTypeAddValuePosition, AlterTypeOperation, UserDefinedTypeRepresentation,
};

use super::analyze::Ctx;
use super::model::TypeDef;
use super::names;
use super::summary::{RiskKind, TypeChange};

pub(super) fn create_type(
    ctx: &mut Ctx<'_>,
    name: &str,
    representation: Option<&UserDefinedTypeRepresentation>,
) {
    let (kind, values) = match representation {
        Some(UserDefinedTypeRepresentation::Enum { labels }) => {
            ("enum", labels.iter().map(|l| l.value.clone()).collect())
        }
        Some(UserDefinedTypeRepresentation::Composite { .. }) => ("composite", Vec::new()),
        Some(UserDefinedTypeRepresentation::Range { .. }) => ("range", Vec::new()),
        _ => ("type", Vec::new()),
    };
    ctx.check_identifier(name);
    ctx.schema.types.insert(
        name.to_string(),
        TypeDef {
            name: name.to_string(),
            kind: kind.to_string(),
            values: values.clone(),
        },
    );
    push_type(ctx, name, kind, "created", values, None);
}

pub(super) fn alter_type(ctx: &mut Ctx<'_>, name: &str, operation: &AlterTypeOperation) {
    match operation {
        AlterTypeOperation::AddValue(add) => {
            let value = add.value.value.clone();
            let detail = add.position.as_ref().map(|p| match p {
                AlterTypeAddValuePosition::Before(v) => format!("before '{}'", v.value),
                AlterTypeAddValuePosition::After(v) => format!("after '{}'", v.value),
            });
            if add.position.is_none() {
                ctx.risk(
                    RiskKind::EnumValueOrder,
                    format!("'{value}' is added at the end of `{name}` (no BEFORE/AFTER); enum order is sort order"),
                );
            }
            if let Some(def) = ctx.schema.types.get_mut(name) {
                def.values.push(value.clone());
            }
            push_type(ctx, name, "enum", "value added", vec![value], detail);
        }
        AlterTypeOperation::RenameValue(rename) => {
            let detail = Some(format!("'{}' → '{}'", rename.from.value, rename.to.value));
            push_type(ctx, name, "enum", "value renamed", Vec::new(), detail);
        }
        AlterTypeOperation::Rename(rename) => {
            let detail = Some(format!("to {}", names::ident(&rename.new_name)));
            ctx.risk(
                RiskKind::Rename,
                format!("type `{name}` is renamed; code that names it breaks"),
            );
            push_type(ctx, name, "type", "renamed", Vec::new(), detail);
        }
    }
}

pub(super) fn push_type(
    ctx: &mut Ctx<'_>,
    name: &str,
    kind: &str,
    action: &str,
    values: Vec<String>,
    detail: Option<String>,
) {
    let at = ctx.at();
    let kind = ctx
        .schema
        .types
        .get(name)
        .map_or(kind, |t| t.kind.as_str())
        .to_string();
    ctx.summary.types.push(TypeChange {
        name: name.to_string(),
        kind,
        action: action.to_string(),
        values,
        detail,
        at,
    });
}
