//! Images made here without a registry: a root filesystem of host files (an executable and
//! the shared libraries `ldd` lists, loader included), imported into the daemon as one layer
//! (`POST /images/create?fromSrc=-`, what `docker import` does).
//!
//! An image is tagged with the digest of everything that went into it (label
//! `ferroflow.digest`), so building it again is a no-op until something changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;

use super::{Error, Fnv, api, connect, status};

/// The files of an image, by their path inside it.
#[derive(Debug, Clone, Default)]
pub struct RootFs {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    Dir { mode: u32 },
    File { host: PathBuf, mode: u32 },
    Text { text: String, mode: u32 },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

impl RootFs {
    pub fn new() -> Self {
        let mut fs = Self::default();
        fs.dir("tmp", 0o1777);
        fs.text("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n", 0o644);
        fs.text("etc/group", "root:x:0:\n", 0o644);
        fs.text("etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", 0o644);
        fs
    }

    pub fn dir(&mut self, inside: &str, mode: u32) -> &mut Self {
        self.entries.insert(clean(inside), Entry::Dir { mode });
        self
    }

    pub fn text(&mut self, inside: &str, text: &str, mode: u32) -> &mut Self {
        self.entries.insert(
            clean(inside),
            Entry::Text {
                text: text.to_string(),
                mode,
            },
        );
        self
    }

    /// A host file (its content: symbolic links are followed) at `inside`.
    pub fn file(&mut self, host: &Path, inside: &str, mode: u32) -> &mut Self {
        self.entries.insert(
            clean(inside),
            Entry::File {
                host: host.to_path_buf(),
                mode,
            },
        );
        self
    }

    /// An executable at `inside`, and every shared library it loads at the path `ldd` finds
    /// it on this host.
    pub fn executable(&mut self, host: &Path, inside: &str) -> Result<&mut Self, Error> {
        self.file(host, inside, 0o755);
        for lib in shared_libraries(host)? {
            let inside = lib.to_string_lossy().into_owned();
            self.file(&lib, &inside, 0o755);
        }
        Ok(self)
    }

    /// A digest of every path, mode and content, and of `extra` (e.g. the image's config).
    pub fn digest(&self, extra: &[String]) -> Result<String, Error> {
        let mut h = Fnv::new();
        for (path, e) in &self.entries {
            h.write(path.as_bytes());
            match e {
                Entry::Dir { mode } => h.write(&mode.to_le_bytes()),
                Entry::Text { text, mode } => {
                    h.write(&mode.to_le_bytes());
                    h.write(text.as_bytes());
                }
                Entry::File { host, mode } => {
                    h.write(&mode.to_le_bytes());
                    let bytes = std::fs::read(host)
                        .map_err(io(format!("cannot read {}", host.display())))?;
                    h.write(&bytes);
                }
            }
        }
        for x in extra {
            h.write(x.as_bytes());
        }
        Ok(format!("{:016x}", h.finish()))
    }

    /// The root filesystem as an uncompressed tar, parent directories included.
    pub fn tar(&self) -> Result<Vec<u8>, Error> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dirs: BTreeMap<String, u32> = BTreeMap::new();
        for (path, e) in &self.entries {
            let mut p = Path::new(path).parent();
            while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
                dirs.entry(d.to_string_lossy().into_owned())
                    .or_insert(0o755);
                p = d.parent();
            }
            if let Entry::Dir { mode } = e {
                dirs.insert(path.clone(), *mode);
            }
        }
        for (d, mode) in &dirs {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(*mode);
            h.set_size(0);
            b.append_data(&mut h, format!("{d}/"), std::io::empty())
                .map_err(io("tar"))?;
        }
        for (path, e) in &self.entries {
            let (bytes, mode) = match e {
                Entry::Dir { .. } => continue,
                Entry::Text { text, mode } => (text.as_bytes().to_vec(), *mode),
                Entry::File { host, mode } => (
                    std::fs::read(host).map_err(io(format!("cannot read {}", host.display())))?,
                    *mode,
                ),
            };
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_size(bytes.len() as u64);
            b.append_data(&mut h, path, &bytes[..]).map_err(io("tar"))?;
        }
        b.into_inner().map_err(io("tar"))
    }
}

fn clean(p: &str) -> String {
    p.trim_start_matches('/').trim_end_matches('/').to_string()
}

/// The shared libraries (loader included) `ldd` lists for an executable; none for a static
/// one.
pub fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, Error> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(io("cannot run ldd"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // "not a dynamic executable": nothing to add.
        return Ok(Vec::new());
    }
    Ok(parse_ldd(&text))
}

fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub tag: String,
    pub id: String,
    pub digest: String,
    /// `false`: an image with this tag and digest was there already.
    pub fresh: bool,
}

/// Makes sure `tag` on the daemon is this root filesystem with these Dockerfile `changes`
/// (`ENTRYPOINT [...]`, `LABEL k=v`, `ENV k=v`, ...); imports it only if the tag is absent or
/// was built from something else.
pub async fn ensure(
    base_url: &str,
    tag: &str,
    fs: &RootFs,
    changes: &[String],
) -> Result<Built, Error> {
    let docker = connect(base_url).await?;
    let digest = fs.digest(changes)?;
    match docker.inspect_image(tag).await {
        Ok(i) => {
            let labels = i.config.and_then(|c| c.labels).unwrap_or_default();
            if labels.get("ferroflow.digest") == Some(&digest) {
                return Ok(Built {
                    tag: tag.to_string(),
                    id: i.id.unwrap_or_default(),
                    digest,
                    fresh: false,
                });
            }
        }
        Err(e) if status(&e) == Some(404) => {}
        Err(e) => return Err(api(base_url, format!("cannot inspect image {tag}"))(e)),
    }
    let mut all = changes.to_vec();
    all.push(format!("LABEL ferroflow.digest={digest}"));
    let (repo, version) = match tag.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((r, t)) => (r.to_string(), t.to_string()),
        None => (tag.to_string(), "latest".to_string()),
    };
    let body = bollard::body_full(fs.tar()?.into());
    let mut stream = std::pin::pin!(docker.create_image(
        Some(CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo),
            tag: Some(version),
            changes: all,
            ..Default::default()
        }),
        Some(body),
        None,
    ));
    while let Some(item) = stream.next().await {
        item.map_err(api(base_url, format!("cannot import image {tag}")))?;
    }
    let id = docker
        .inspect_image(tag)
        .await
        .map_err(api(base_url, format!("cannot inspect image {tag}")))?
        .id
        .unwrap_or_default();
    tracing::info!(tag, id, "image imported");
    Ok(Built {
        tag: tag.to_string(),
        id,
        digest,
        fresh: true,
    })
}

/// A JSON array in Dockerfile syntax, for `ENTRYPOINT` and `CMD` changes.
pub fn exec_form(argv: &[&str]) -> String {
    serde_json::to_string(argv).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x1)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n";
        assert_eq!(
            parse_ldd(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_root_filesystem_has_its_parents_and_a_stable_digest() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "hello").unwrap();
        let mut fs = RootFs::new();
        fs.file(&f, "/usr/local/bin/x", 0o755);
        let d1 = fs.digest(&["ENTRYPOINT [\"/x\"]".into()]).unwrap();
        assert_eq!(d1, fs.digest(&["ENTRYPOINT [\"/x\"]".into()]).unwrap());
        assert_ne!(d1, fs.digest(&[]).unwrap());
        let tar = fs.tar().unwrap();
        let names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        for n in [
            "usr/",
            "usr/local/",
            "usr/local/bin/",
            "tmp/",
            "usr/local/bin/x",
            "etc/passwd",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
        std::fs::write(&f, "changed").unwrap();
        assert_ne!(d1, fs.digest(&["ENTRYPOINT [\"/x\"]".into()]).unwrap());
    }
}
