//! Files from outside read within a bound; files written whole or not at all.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// The whole of `path`, if it is a regular file of at most `limit` bytes. The check comes
/// before opening (opening a FIFO blocks), and the read stops at `limit` whatever the file
/// does meanwhile.
pub fn read_regular(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let p = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("{p}: file not found"),
        _ => anyhow!("{p}: {e}"),
    })?;
    if !meta.is_file() {
        bail!("{p}: not a regular file (a {what} is read from a file)");
    }
    if meta.len() > limit {
        let len = meta.len();
        bail!("{p}: {len} bytes, larger than any {what} ({limit} bytes at most)");
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let read = std::fs::File::open(path).and_then(|f| f.take(limit + 1).read_to_end(&mut bytes));
    read.map_err(|e| anyhow!("{p}: {e}"))?;
    if bytes.len() as u64 > limit {
        bail!("{p}: grew past {limit} bytes while being read");
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file next to it, renamed
/// over `path` once complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.part", std::process::id()));
    let tmp: PathBuf = dir.join(tmp_name);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("{}: cannot write", path.display()))
}

/// Creates an output directory (and its parents).
pub fn create_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create output directory", dir.display()))
}
