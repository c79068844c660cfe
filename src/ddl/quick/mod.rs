//! The statements a pg_dump is mostly made of, read without sqlparser: `CREATE TABLE`
//! with plain columns, `ALTER TABLE [ONLY] ... ADD CONSTRAINT` primary and foreign keys,
//! `CREATE INDEX` on plain columns and `COMMENT ON TABLE|COLUMN`. Each is built into the
//! AST sqlparser builds for it, several times faster (sqlparser's tokenizer allocates
//! for every word); debug builds, so every test, check the two are equal. Anything
//! outside these narrow forms gives `None` and goes to sqlparser. This module reads
//! statements; it does not analyse them.

use reader::{is_keyword, is_name, Reader, Token};
use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{
    AlterTable, AlterTableOperation, CastKind, CharacterLength, ColumnDef, ColumnOption,
    ColumnOptionDef, CommentObject, CreateIndex, DataType, ExactNumberInfo, Expr,
    ForeignKeyConstraint, Function, FunctionArgumentList, FunctionArguments, Ident, IndexColumn,
    IndexType, ObjectName, OrderByExpr, OrderByOptions, PrimaryKeyConstraint, ReferentialAction,
    Statement as Ast, TableConstraint, TimezoneInfo, Value,
};

mod reader;

/// The AST of `text` when it is one of the forms read here, exactly as sqlparser
/// (PostgreSQL dialect) would build it.
pub fn read(text: &str) -> Option<Ast> {
    let mut r = Reader::new(text);
    let ast = if r.keyword("CREATE") {
        if r.keyword("TABLE") {
            create_table(&mut r)?
        } else {
            let unique = r.keyword("UNIQUE");
            r.expect("INDEX")?;
            create_index(&mut r, unique)?
        }
    } else if r.keywords(&["ALTER", "TABLE"]) {
        add_constraint(&mut r)?
    } else if r.keywords(&["COMMENT", "ON"]) {
        comment(&mut r)?
    } else {
        return None;
    };
    r.punct(b';');
    (r.next()? == Token::End).then_some(ast)
}

/// `CREATE TABLE [IF NOT EXISTS] name (column type [NOT NULL | NULL | DEFAULT x] ...)`.
fn create_table(r: &mut Reader<'_>) -> Option<Ast> {
    let if_not_exists = r.keywords(&["IF", "NOT", "EXISTS"]);
    let name = r.object_name()?;
    r.expect_punct(b'(')?;
    let mut columns = Vec::new();
    loop {
        columns.push(column(r)?);
        if !r.punct(b',') {
            break;
        }
    }
    r.expect_punct(b')')?;
    let create = CreateTableBuilder::new(name)
        .if_not_exists(if_not_exists)
        .columns(columns)
        .build();
    Some(Ast::CreateTable(create))
}

fn column(r: &mut Reader<'_>) -> Option<ColumnDef> {
    let name = r.ident()?;
    let data_type = data_type(r)?;
    let mut options = Vec::new();
    loop {
        let option = if r.keywords(&["NOT", "NULL"]) {
            ColumnOption::NotNull
        } else if r.keyword("NULL") {
            ColumnOption::Null
        } else if r.keyword("DEFAULT") {
            ColumnOption::Default(default(r)?)
        } else {
            break;
        };
        options.push(ColumnOptionDef { name: None, option });
    }
    Some(ColumnDef {
        name,
        data_type,
        options,
    })
}

/// PostgreSQL's most common types; a name that is not a keyword is a user's type.
fn data_type(r: &mut Reader<'_>) -> Option<DataType> {
    let Token::Word(word) = r.peek()? else {
        return None;
    };
    if is_name(word) {
        let name = r.object_name()?;
        return (!r.at_punct(b'(')).then_some(DataType::Custom(name, Vec::new()));
    }
    r.next()?;
    let is = |name: &str| word.eq_ignore_ascii_case(name);
    let data_type = if is("BIGINT") {
        DataType::BigInt(None)
    } else if is("INTEGER") {
        DataType::Integer(None)
    } else if is("INT") {
        DataType::Int(None)
    } else if is("SMALLINT") {
        DataType::SmallInt(None)
    } else if is("TEXT") {
        DataType::Text
    } else if is("BOOLEAN") {
        DataType::Boolean
    } else if is("UUID") {
        DataType::Uuid
    } else if is("DATE") {
        DataType::Date
    } else if is("JSONB") {
        DataType::JSONB
    } else if is("BYTEA") {
        DataType::Bytea
    } else if is("NUMERIC") {
        DataType::Numeric(precision_and_scale(r)?)
    } else if is("CHARACTER") && r.keyword("VARYING") {
        DataType::CharacterVarying(length(r)?)
    } else if is("VARCHAR") {
        DataType::Varchar(length(r)?)
    } else if is("TIMESTAMP") {
        let zone = if r.keywords(&["WITH", "TIME", "ZONE"]) {
            TimezoneInfo::WithTimeZone
        } else if r.keywords(&["WITHOUT", "TIME", "ZONE"]) {
            TimezoneInfo::WithoutTimeZone
        } else {
            TimezoneInfo::None
        };
        DataType::Timestamp(None, zone)
    } else {
        return None;
    };
    // Arrays, precisions and modifiers not read above are sqlparser's to read.
    (!r.at_punct(b'(') && !r.at_punct(b'[')).then_some(data_type)
}

/// `(n)` after a character type, or nothing.
fn length(r: &mut Reader<'_>) -> Option<Option<CharacterLength>> {
    if !r.punct(b'(') {
        return Some(None);
    }
    let length = r.number()?;
    r.expect_punct(b')')?;
    Some(Some(CharacterLength::IntegerLength { length, unit: None }))
}

/// `(p)` or `(p, s)` after `numeric`, or nothing.
fn precision_and_scale(r: &mut Reader<'_>) -> Option<ExactNumberInfo> {
    if !r.punct(b'(') {
        return Some(ExactNumberInfo::None);
    }
    let precision = r.number()?;
    let info = if r.punct(b',') {
        ExactNumberInfo::PrecisionAndScale(precision, i64::try_from(r.number()?).ok()?)
    } else {
        ExactNumberInfo::Precision(precision)
    };
    r.expect_punct(b')')?;
    Some(info)
}

/// A default: `now()` (any call without arguments), a number, `true`, `false` or a
/// string, with at most one `::type` cast.
fn default(r: &mut Reader<'_>) -> Option<Expr> {
    let value = match r.next()? {
        Token::Number(n) => Value::Number(n.to_string(), false),
        Token::Str(s) => Value::SingleQuotedString(s.into_owned()),
        Token::Word(w) if w.eq_ignore_ascii_case("TRUE") => Value::Boolean(true),
        Token::Word(w) if w.eq_ignore_ascii_case("FALSE") => Value::Boolean(false),
        Token::Word(w) if !is_keyword(w) => {
            r.expect_punct(b'(')?;
            r.expect_punct(b')')?;
            return Some(Expr::Function(call(Ident::new(w))));
        }
        _ => return None,
    };
    let value = Expr::Value(value.into());
    if !r.double_colon() {
        return Some(value);
    }
    Some(Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(value),
        data_type: data_type(r)?,
        format: None,
    })
}

fn call(name: Ident) -> Function {
    Function {
        name: ObjectName::from(vec![name]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: Vec::new(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }
}

/// `ALTER TABLE [ONLY] name ADD CONSTRAINT c PRIMARY KEY (columns)` or `... FOREIGN KEY
/// (columns) REFERENCES table [(columns)] [ON DELETE action] [ON UPDATE action]`.
fn add_constraint(r: &mut Reader<'_>) -> Option<Ast> {
    let only = r.keyword("ONLY");
    let table = r.object_name()?;
    r.expect("ADD")?;
    r.expect("CONSTRAINT")?;
    let name = Some(r.ident()?);
    let constraint = if r.keywords(&["PRIMARY", "KEY"]) {
        TableConstraint::PrimaryKey(PrimaryKeyConstraint {
            name,
            index_name: None,
            index_type: None,
            columns: index_columns(r)?,
            include: Vec::new(),
            index_options: Vec::new(),
            characteristics: None,
        })
    } else if r.keywords(&["FOREIGN", "KEY"]) {
        let columns = idents(r)?;
        r.expect("REFERENCES")?;
        let foreign_table = r.object_name()?;
        let referred_columns = if r.at_punct(b'(') {
            idents(r)?
        } else {
            Vec::new()
        };
        let (mut on_delete, mut on_update) = (None, None);
        while r.keyword("ON") {
            let slot = if r.keyword("DELETE") {
                &mut on_delete
            } else {
                r.expect("UPDATE")?;
                &mut on_update
            };
            if slot.replace(action(r)?).is_some() {
                return None;
            }
        }
        TableConstraint::ForeignKey(ForeignKeyConstraint {
            name,
            index_name: None,
            columns,
            foreign_table,
            referred_columns,
            on_delete,
            on_update,
            match_kind: None,
            characteristics: None,
        })
    } else {
        return None;
    };
    Some(Ast::AlterTable(AlterTable {
        name: table,
        if_exists: false,
        only,
        operations: vec![AlterTableOperation::AddConstraint {
            constraint,
            not_valid: false,
        }],
        location: None,
        on_cluster: None,
        table_type: None,
        end_token: AttachedToken::empty(),
    }))
}

fn action(r: &mut Reader<'_>) -> Option<ReferentialAction> {
    Some(if r.keyword("CASCADE") {
        ReferentialAction::Cascade
    } else if r.keyword("RESTRICT") {
        ReferentialAction::Restrict
    } else if r.keywords(&["SET", "NULL"]) {
        ReferentialAction::SetNull
    } else if r.keywords(&["SET", "DEFAULT"]) {
        ReferentialAction::SetDefault
    } else if r.keywords(&["NO", "ACTION"]) {
        ReferentialAction::NoAction
    } else {
        return None;
    })
}

/// `CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table [USING method] (columns)`.
fn create_index(r: &mut Reader<'_>, unique: bool) -> Option<Ast> {
    let if_not_exists = r.keywords(&["IF", "NOT", "EXISTS"]);
    let name = Some(r.object_name()?);
    r.expect("ON")?;
    let table_name = r.object_name()?;
    let using = if r.keyword("USING") {
        let Token::Word(method) = r.next()? else {
            return None;
        };
        let is = |name: &str| method.eq_ignore_ascii_case(name);
        Some(if is("BTREE") {
            IndexType::BTree
        } else if is("HASH") {
            IndexType::Hash
        } else if is("GIN") {
            IndexType::GIN
        } else if is("GIST") {
            IndexType::GiST
        } else if is("BRIN") {
            IndexType::BRIN
        } else {
            return None;
        })
    } else {
        None
    };
    Some(Ast::CreateIndex(CreateIndex {
        name,
        table_name,
        using,
        columns: index_columns(r)?,
        unique,
        concurrently: false,
        r#async: false,
        if_not_exists,
        include: Vec::new(),
        nulls_distinct: None,
        with: Vec::new(),
        predicate: None,
        index_options: Vec::new(),
        alter_options: Vec::new(),
    }))
}

/// `COMMENT ON TABLE|COLUMN name IS 'text'`.
fn comment(r: &mut Reader<'_>) -> Option<Ast> {
    let object_type = if r.keyword("TABLE") {
        CommentObject::Table
    } else if r.keyword("COLUMN") {
        CommentObject::Column
    } else {
        return None;
    };
    let object_name = r.object_name()?;
    r.expect("IS")?;
    let Token::Str(comment) = r.next()? else {
        return None;
    };
    Some(Ast::Comment {
        object_type,
        object_name,
        comment: Some(comment.into_owned()),
        if_exists: false,
    })
}

/// `(a, b)`: plain names.
fn idents(r: &mut Reader<'_>) -> Option<Vec<Ident>> {
    r.expect_punct(b'(')?;
    let mut names = vec![r.ident()?];
    while r.punct(b',') {
        names.push(r.ident()?);
    }
    r.expect_punct(b')')?;
    Some(names)
}

/// `(a, b)` as the columns of a key or an index: plain names, no order or operator class.
fn index_columns(r: &mut Reader<'_>) -> Option<Vec<IndexColumn>> {
    let column = |ident| IndexColumn {
        column: OrderByExpr {
            expr: Expr::Identifier(ident),
            options: OrderByOptions {
                sort: None,
                nulls_first: None,
            },
            with_fill: None,
        },
        operator_class: None,
    };
    Some(idents(r)?.into_iter().map(column).collect())
}

#[cfg(test)]
mod tests;
