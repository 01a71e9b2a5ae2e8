//! Confines `path`/`file` parameters to the directories the site allows (`data_dir`,
//! `upload_dir`, `allowed_dirs`): no `..`, and no symbolic link that leads outside. A path
//! that does not exist yet (an export target) is judged by its nearest existing ancestor.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("`..` is not allowed in a path")]
    Traversal,
    #[error("the path is empty")]
    Empty,
    #[error("{0} is outside the directories this site allows ({1})")]
    Outside(String, String),
    #[error("cannot resolve {0}: {1}")]
    Io(String, String),
}

/// The absolute, link-free form of `user` (relative to `base`), if it lies in one of `roots`.
pub fn confine(roots: &[PathBuf], base: &Path, user: &str) -> Result<PathBuf, Error> {
    if user.trim().is_empty() {
        return Err(Error::Empty);
    }
    let p = Path::new(user);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::Traversal);
    }
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let resolved = resolve(&p)?;
    let roots: Vec<PathBuf> = roots.iter().filter_map(|r| resolve(r).ok()).collect();
    if roots.iter().any(|r| resolved.starts_with(r)) {
        Ok(resolved)
    } else {
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Err(Error::Outside(user.to_string(), list.join(", ")))
    }
}

/// Canonicalizes the longest existing prefix and appends the rest (which, not existing, holds
/// no link).
fn resolve(p: &Path) -> Result<PathBuf, Error> {
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
                    return Err(Error::Io(p.display().to_string(), e.to_string()));
                };
                rest.push(name);
                if !existing.pop() {
                    return Err(Error::Io(p.display().to_string(), e.to_string()));
                }
            }
            Err(e) => return Err(Error::Io(p.display().to_string(), e.to_string())),
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
}
