//! Recognizing a backup: its format from its content (so any name will do), and whether
//! pg_dump finished writing it (a plain dump ends with pg_dump's completion line, an
//! archive starts with `PGDMP`, a directory holds `toc.dat`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

use super::Format;

/// The marker pg_dump writes at the end of a plain dump.
const COMPLETE: &str = "-- PostgreSQL database dump complete";

/// A plain dump must end with pg_dump's completion marker; an archive must be readable
/// as one (pg_dump's exit status is checked before this).
pub(super) fn check_complete(path: &Path, format: Format, gzip: bool) -> Result<()> {
    let incomplete = |why: &str| Error::Command {
        command: "pg_dump".into(),
        status: "exit status 0".into(),
        stderr: format!("the output `{}` is incomplete: {why}", path.display()),
    };
    match format {
        Format::Plain => {
            let tail = tail_of(path, gzip).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            if !tail.contains(COMPLETE) {
                return Err(incomplete("no completion marker at its end"));
            }
        }
        Format::Custom => {
            let mut magic = [0u8; 5];
            let read = File::open(path).and_then(|mut f| f.read_exact(&mut magic));
            if read.is_err() || &magic != b"PGDMP" {
                return Err(incomplete("not a pg_dump archive"));
            }
        }
        Format::Directory => {
            if !path.join("toc.dat").is_file() {
                return Err(incomplete("no `toc.dat`"));
            }
        }
    }
    Ok(())
}

/// Whether a plain backup (gzip or not) ends with pg_dump's completion line: a file cut
/// short does not, and psql would commit the part it read.
pub fn plain_is_complete(path: &Path, gzip: bool) -> Result<bool> {
    let tail = tail_of(path, gzip).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(tail.contains(COMPLETE))
}

/// The last kilobyte of a file's text, decompressing gzip when asked.
fn tail_of(path: &Path, gzip: bool) -> std::io::Result<String> {
    let file = File::open(path)?;
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            file,
        )))
    } else {
        Box::new(file)
    };
    let mut window: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        window.extend_from_slice(&buffer[..n]);
        if window.len() > 4096 {
            window.drain(..window.len() - 1024);
        }
    }
    let start = window.len().saturating_sub(1024);
    Ok(String::from_utf8_lossy(&window[start..]).into_owned())
}

/// A backup's format, recognized from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Plain,
    PlainGzip,
    Custom,
    Directory,
}

/// Recognizes a backup: a folder with `toc.dat`, a pg_dump archive (`PGDMP`), gzip, or
/// SQL text.
pub fn kind(path: &Path) -> Result<Kind> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return if path.join("toc.dat").is_file() {
            Ok(Kind::Directory)
        } else {
            Err(Error::Refused(format!(
                "`{}` is a folder without `toc.dat`: not a directory-format backup",
                path.display()
            )))
        };
    }
    let mut head = [0u8; 5];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io)?;
    Ok(match &head[..n] {
        [b'P', b'G', b'D', b'M', b'P'] => Kind::Custom,
        [0x1f, 0x8b, ..] => Kind::PlainGzip,
        _ => Kind::Plain,
    })
}
