//! Confines `path`/`file` parameters to the directories the site allows (`data_dir`,
//! `upload_dir`, `allowed_dirs`): no `..`, and no symbolic link that leads outside. A path
//! that does not exist yet (an export target) is judged by its nearest existing ancestor.

use std::path::{Component, Path, PathBuf};

/// Messages name what is wrong and the settings that allow more, never where the site keeps
/// its files nor the system's error text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("`..` is not allowed in a path")]
    Traversal,
    #[error("the path is empty")]
    Empty,
    #[error("the path is longer than {MAX_PATH} bytes")]
    TooLong,
    #[error("a part of the path is longer than {MAX_PART} bytes")]
    PartTooLong,
    #[error("control characters are not allowed in a path")]
    Control,
    #[error(
        "{0} is outside the directories this site allows (its data_dir, upload_dir and allowed_dirs)"
    )]
    Outside(String),
    #[error("cannot resolve {0}: {1}")]
    Io(String, &'static str),
}

/// The longest path, and the longest part of one, that file systems take.
pub const MAX_PATH: usize = 4096;
pub const MAX_PART: usize = 255;

/// A path's shape alone: not too long, no over-long part, no control characters.
pub fn check_shape(user: &str) -> Result<(), Error> {
    if user.len() > MAX_PATH {
        return Err(Error::TooLong);
    }
    if user.split('/').any(|p| p.len() > MAX_PART) {
        return Err(Error::PartTooLong);
    }
    if user.chars().any(char::is_control) {
        return Err(Error::Control);
    }
    Ok(())
}

/// The absolute, link-free form of `user` (relative to `base`), if it lies in one of `roots`.
pub fn confine(roots: &[PathBuf], base: &Path, user: &str) -> Result<PathBuf, Error> {
    if user.trim().is_empty() {
        return Err(Error::Empty);
    }
    check_shape(user)?;
    let p = Path::new(user);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::Traversal);
    }
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let resolved = resolve(&p).map_err(|why| Error::Io(user.to_string(), why))?;
    let roots: Vec<PathBuf> = roots.iter().filter_map(|r| resolve(r).ok()).collect();
    if roots.iter().any(|r| resolved.starts_with(r)) {
        Ok(resolved)
    } else {
        Err(Error::Outside(user.to_string()))
    }
}

/// What went wrong, in words, without the system's message (which may name server paths).
fn why(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::NotFound => "no such file or directory",
        _ if e.raw_os_error() == Some(36) => "a name in it is too long",
        _ => "the file system refused it",
    }
}

/// Canonicalizes the longest existing prefix and appends the rest (which, not existing, holds
/// no link).
fn resolve(p: &Path) -> Result<PathBuf, &'static str> {
    let mut existing = p.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(c) => {
                let mut out = c;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                    return Err(why(&e));
                };
                rest.push(name);
                if !existing.pop() {
                    return Err(why(&e));
                }
            }
            Err(e) => return Err(why(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_outside_traversal_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let other = dir.path().join("other");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(root.join("sub/a.csv"), "id\n").unwrap();
        let roots = vec![root.clone()];
        let real_root = root.canonicalize().unwrap();
        assert_eq!(
            confine(&roots, &root, "sub/a.csv").unwrap(),
            real_root.join("sub/a.csv")
        );
        // Not there yet: judged by its parent.
        assert_eq!(
            confine(&roots, &root, "new/dir/x.zip").unwrap(),
            real_root.join("new/dir/x.zip")
        );
        assert_eq!(confine(&roots, &root, "../other"), Err(Error::Traversal));
        assert_eq!(
            confine(&roots, &root, "sub/../../other"),
            Err(Error::Traversal)
        );
        assert!(matches!(
            confine(&roots, &root, other.to_str().unwrap()),
            Err(Error::Outside(..))
        ));
        std::os::unix::fs::symlink(&other, root.join("link")).unwrap();
        assert!(matches!(
            confine(&roots, &root, "link/x"),
            Err(Error::Outside(..))
        ));
        assert_eq!(confine(&roots, &root, " "), Err(Error::Empty));
    }

    #[test]
    fn messages_name_the_settings_not_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let e = confine(std::slice::from_ref(&root), &root, "/etc/hostname").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("allowed_dirs"), "{text}");
        assert!(!text.contains(&*dir.path().to_string_lossy()), "{text}");
        let long = "x".repeat(MAX_PART + 1);
        assert_eq!(
            confine(std::slice::from_ref(&root), &root, &long),
            Err(Error::PartTooLong)
        );
        let huge = "a/".repeat(MAX_PATH);
        assert_eq!(
            confine(std::slice::from_ref(&root), &root, &huge),
            Err(Error::TooLong)
        );
        // A file name too long for the file system is said in words, not as the OS error.
        let e = confine(std::slice::from_ref(&root), &root, "a\u{1}b").unwrap_err();
        assert_eq!(e, Error::Control);
    }
}
