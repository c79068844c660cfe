//! GitHub workflow annotations for `document-migration --format github`: one
//! `::warning` (or `::error` when `--deny` names it) per risk, which GitHub shows on the
//! pull request's diff at the file and line. What the risks are is `ddl`'s business; the
//! human summaries are `report::migration`'s.

use std::io::{self, Write};

use crate::ddl::summary::{FileSummary, RiskKind};

/// Writes one annotation per risk not silenced by `-- dbkit:allow`: `::error` for those
/// `denied` says fail the run, `::warning` for the others.
pub fn annotations(
    w: &mut dyn Write,
    summaries: &[FileSummary],
    denied: impl Fn(RiskKind) -> bool,
) -> io::Result<()> {
    for risk in summaries.iter().flat_map(|s| &s.risks) {
        if risk.allowed {
            continue;
        }
        let level = if denied(risk.risk) {
            "error"
        } else {
            "warning"
        };
        writeln!(
            w,
            "::{level} file={},line={},title={}::{}",
            property(&risk.at.file),
            risk.at.line,
            property(&format!("dbkit: {}", risk.risk.name())),
            data(&risk.reason),
        )?;
    }
    Ok(())
}

/// A message, escaped as GitHub's toolkit does (`escapeData`): `%`, CR and LF.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value (`file=`, `title=`), escaped as GitHub's toolkit does
/// (`escapeProperty`): as a message, plus `:` and `,`, which would end the value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ddl::summary::{At, Risk};

    fn risk(risk: RiskKind, reason: &str, allowed: bool) -> Risk {
        Risk {
            risk,
            reason: reason.to_string(),
            allowed,
            at: At {
                file: Arc::from("db/migrations/0,1:a.sql"),
                line: 7,
            },
        }
    }

    #[test]
    fn annotates_risks_with_escaped_properties_and_message() {
        let summary = FileSummary {
            risks: vec![
                risk(
                    RiskKind::DataLoss,
                    "drops `a`: 100% gone\r\nfor good",
                    false,
                ),
                risk(RiskKind::TableRewrite, "rewrites `a`", false),
                risk(RiskKind::Rename, "renames `a`", true),
            ],
            ..FileSummary::default()
        };
        let mut out = Vec::new();
        annotations(&mut out, &[summary], |r| r == RiskKind::TableRewrite).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "::warning file=db/migrations/0%2C1%3Aa.sql,line=7,title=dbkit%3A data-loss::drops `a`: 100%25 gone%0D%0Afor good\n\
             ::error file=db/migrations/0%2C1%3Aa.sql,line=7,title=dbkit%3A table-rewrite::rewrites `a`\n"
        );
    }
}
