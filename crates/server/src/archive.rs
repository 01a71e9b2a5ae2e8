//! Archives answered by download routes: gzip'd tars (`application/gzip`) and zips (model
//! export), built in memory from named members or from a directory.

use std::io::{self, Read, Write};
use std::path::Path;

/// A `.tar.gz` of `(name, bytes)` members, in order.
pub fn targz(members: &[(String, Vec<u8>)]) -> io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes.as_slice())?;
    }
    tar.into_inner()?.finish()
}

/// A `.tar.gz` of everything under `dir`, names relative to it; links are not followed.
pub fn targz_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir)?;
    tar.into_inner()?.finish()
}

/// The members of a `.tar.gz`, by name (tests and clients).
pub fn untargz(bytes: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for e in a.entries()? {
        let mut e = e?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e.path()?.to_string_lossy().into_owned();
        let mut b = Vec::new();
        e.read_to_end(&mut b)?;
        out.push((name, b));
    }
    Ok(out)
}

/// A zip of `(name, bytes)` members (stored, as Python's `zipfile` writes by default).
pub fn zip(members: &[(String, Vec<u8>)]) -> io::Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for (name, bytes) in members {
        w.start_file(name.as_str(), opts)
            .map_err(io::Error::other)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish().map_err(io::Error::other)?.into_inner())
}

/// The file members of a zip (stored or deflated), by name.
pub fn unzip(bytes: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut a = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(io::Error::other)?;
    let mut out = Vec::new();
    for i in 0..a.len() {
        let mut f = a.by_index(i).map_err(io::Error::other)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().map_err(io::Error::other)?.into_owned();
        let mut b = Vec::new();
        f.read_to_end(&mut b)?;
        out.push((name, b));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = vec![
            ("a/0.csv".to_string(), b"id\n1\n".to_vec()),
            ("b".into(), vec![0, 1, 2]),
        ];
        assert_eq!(untargz(&targz(&m).unwrap()).unwrap(), m);
        assert_eq!(unzip(&zip(&m).unwrap()).unwrap(), m);
        assert!(unzip(b"not a zip").is_err());
    }
}
