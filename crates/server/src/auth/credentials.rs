//! The admin app's credentials on disk: what an operator (or a local tool) reads to call a
//! site with client authentication on. No token is well known: the site makes one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the admin app's credentials are written: `<data_dir>/credentials/admin.json`.
pub fn admin_file(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials").join("admin.json")
}

/// Writes `{"app_id", "app_token"}` readable by this user only (directory 0700, file 0600),
/// whole or not at all (a temporary file renamed).
pub fn write_admin_file(data_dir: &Path, app_id: &str, app_token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let path = admin_file(data_dir);
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(".admin.json.{}", uuid::Uuid::new_v4().simple()));
    let body = serde_json::json!({"app_id": app_id, "app_token": app_token}).to_string();
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The admin credentials a local data directory holds, if any.
pub fn read_admin_file(data_dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(admin_file(data_dir)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        v["app_id"].as_str()?.to_string(),
        v["app_token"].as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        write_admin_file(d.path(), "admin", "secret").unwrap();
        let f = admin_file(d.path());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&f), 0o600);
        assert_eq!(mode(f.parent().unwrap()), 0o700);
        assert_eq!(
            read_admin_file(d.path()),
            Some(("admin".into(), "secret".into()))
        );
        write_admin_file(d.path(), "admin", "other").unwrap();
        assert_eq!(read_admin_file(d.path()).unwrap().1, "other");
        assert_eq!(std::fs::read_dir(f.parent().unwrap()).unwrap().count(), 1);
    }
}
