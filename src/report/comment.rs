//! The Markdown of `document-migration --format markdown` as a pull-request comment:
//! GitHub refuses a comment over 65,536 characters, so when the full summaries (and the
//! diagram) are longer, the comment keeps full details for the first files, one line for
//! each of the others, and says what it left out. The per-file Markdown itself is
//! `report::migration`'s.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::ddl::summary::FileSummary;

/// GitHub's limit on a comment's body, in characters. Lengths here are counted in
/// UTF-8 bytes, never fewer than GitHub's count, so staying under in bytes is enough.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Room kept for the note and the heading over the one-line summaries.
const NOTE_ROOM: usize = 600;

/// Writes the summaries as Markdown, then `diagram` (already Markdown), in at most
/// `limit` bytes: unchanged when they fit, shortened as the module says when not.
pub fn markdown(
    w: &mut dyn Write,
    summaries: &[FileSummary],
    diagram: Option<&str>,
    limit: usize,
) -> io::Result<()> {
    let full: Vec<Vec<u8>> = summaries
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            super::migration::markdown(&mut out, std::slice::from_ref(s)).map(|()| out)
        })
        .collect::<io::Result<_>>()?;
    let diagram_len = diagram.map_or(0, |d| d.len() + 1);
    let total: usize = full.iter().map(|f| f.len() + 1).sum::<usize>() + diagram_len;
    if total <= limit {
        for (i, file) in full.iter().enumerate() {
            if i > 0 {
                writeln!(w)?;
            }
            w.write_all(file)?;
        }
        if let Some(diagram) = diagram {
            write!(w, "\n{diagram}")?;
        }
        return Ok(());
    }
    let lines: Vec<String> = summaries.iter().map(one_line).collect();
    let budget = limit.saturating_sub(NOTE_ROOM);
    // The most files shown in full such that the rest still fit as one line each.
    let mut kept = 0;
    let mut used = 0;
    let mut rest: usize = lines.iter().map(|l| l.len() + 1).sum();
    while kept < full.len() {
        let (add, freed) = (full[kept].len() + 1, lines[kept].len() + 1);
        if used + add + rest - freed > budget {
            break;
        }
        used += add;
        rest -= freed;
        kept += 1;
    }
    let diagram_note = if diagram.is_some() {
        "; the ER diagram is left out"
    } else {
        ""
    };
    writeln!(
        w,
        "> ⚠️ Shortened to stay under GitHub's 65,536-character comment limit: full details \
         for the first {kept} of {} files, one line for each of the others{diagram_note}. \
         Run `document-migration --format markdown` on the files for everything.\n",
        summaries.len()
    )?;
    for file in &full[..kept] {
        w.write_all(file)?;
        writeln!(w)?;
    }
    writeln!(w, "### Other migrations\n")?;
    let mut room = budget.saturating_sub(used);
    for (i, line) in lines[kept..].iter().enumerate() {
        if line.len() + 1 > room {
            return writeln!(w, "- … and {} more files", lines.len() - kept - i);
        }
        room -= line.len() + 1;
        writeln!(w, "{line}")?;
    }
    Ok(())
}

/// A file in one Markdown bullet: statements, tables created, changed and dropped, and
/// the risks not allowed, counted by name.
fn one_line(s: &FileSummary) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts = vec![count(s.statements, "statement")];
    for (n, what) in [
        (s.new_tables.len(), "new table"),
        (s.modified_tables.len(), "modified table"),
        (s.dropped_tables.len(), "dropped table"),
    ] {
        if n > 0 {
            parts.push(count(n, what));
        }
    }
    let mut risks = BTreeMap::new();
    for risk in s.risks.iter().filter(|r| !r.allowed) {
        *risks.entry(risk.risk.name()).or_insert(0) += 1;
    }
    if !risks.is_empty() {
        let named: Vec<String> = risks
            .iter()
            .map(|(name, n)| format!("**{name}** ×{n}"))
            .collect();
        parts.push(format!("risks: {}", named.join(", ")));
    }
    format!("- `{}`: {}", s.file, parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::summary::{At, NewTable, Risk, RiskKind};

    fn file(name: &str, tables: usize) -> FileSummary {
        let at = At {
            file: name.into(),
            line: 1,
        };
        FileSummary {
            file: name.to_string(),
            statements: tables,
            analysed: tables,
            new_tables: (0..tables)
                .map(|i| NewTable {
                    table: format!("table_{i}"),
                    columns: Vec::new(),
                    partition_by: None,
                    partition_of: None,
                    at: at.clone(),
                })
                .collect(),
            risks: vec![Risk {
                risk: RiskKind::DataLoss,
                reason: "drops".into(),
                allowed: false,
                at,
            }],
            ..FileSummary::default()
        }
    }

    fn render(files: &[FileSummary], diagram: Option<&str>, limit: usize) -> String {
        let mut out = Vec::new();
        markdown(&mut out, files, diagram, limit).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn leaves_a_comment_that_fits_unchanged() {
        let files = [file("a.sql", 3), file("b.sql", 2)];
        let mut plain = Vec::new();
        super::super::migration::markdown(&mut plain, &files).expect("writes");
        let plain = String::from_utf8(plain).expect("utf-8");
        assert_eq!(render(&files, None, GITHUB_COMMENT_LIMIT), plain);
        assert_eq!(
            render(&files, Some("diagram\n"), GITHUB_COMMENT_LIMIT),
            format!("{plain}\ndiagram\n")
        );
    }

    #[test]
    fn summarises_the_files_that_do_not_fit_and_says_so() {
        let files: Vec<FileSummary> = (0..40).map(|i| file(&format!("{i:03}.sql"), 50)).collect();
        let out = render(&files, Some("diagram\n"), 8_000);
        assert!(out.len() <= 8_000, "{} bytes", out.len());
        assert!(out.starts_with("> ⚠️ Shortened"), "{out}");
        assert!(out.contains("the ER diagram is left out"), "{out}");
        assert!(out.contains("### Migration: `000.sql`"), "{out}");
        assert!(
            out.contains("- `039.sql`: 50 statements; 50 new tables; risks: **data-loss** ×1"),
            "{out}"
        );
        // Too many files even for one line each: the tail is counted, not listed.
        let out = render(&files, None, 1_500);
        assert!(out.len() <= 1_500, "{} bytes", out.len());
        assert!(out.contains("first 0 of 40 files"), "{out}");
        assert!(out.contains("more files"), "{out}");
    }
}
