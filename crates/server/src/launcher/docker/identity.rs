//! What names a task's container: the identity labels it carries and the container name
//! derived from them.

use super::*;

/// Who a task container belongs to.
#[derive(Debug, Clone, Copy)]
pub struct TaskIdentity<'a> {
    /// The site (its data directory): tells apart the containers of sites sharing a daemon.
    pub site: &'a str,
    pub job_id: &'a str,
    pub task_id: &'a str,
    pub task_name: &'a str,
    pub task_version: u32,
    pub role: &'a str,
    pub party_id: &'a str,
    pub execution_id: &'a str,
}

impl TaskIdentity<'_> {
    /// `ff-<role>-<party>-<task name>-<version>-<16 hex>`: readable parts cut to a bounded
    /// length and reduced to Docker's name alphabet, made unique by a hash of the site and
    /// the execution id. FATE's `<role>-<party>-<task_id>-<version>` breaks on long ids.
    pub fn container_name(&self) -> String {
        let mut h = Fnv::new();
        h.write(self.site.as_bytes());
        h.write(&[0]);
        h.write(self.execution_id.as_bytes());
        format!(
            "ff-{}-{}-{}-{}-{:016x}",
            safe(self.role, 12),
            safe(self.party_id, 20),
            safe(self.task_name, 40),
            self.task_version,
            h.finish()
        )
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        [
            ("site", self.site.to_string()),
            ("job_id", self.job_id.to_string()),
            ("task_id", self.task_id.to_string()),
            ("task_name", self.task_name.to_string()),
            ("task_version", self.task_version.to_string()),
            ("role", self.role.to_string()),
            ("party_id", self.party_id.to_string()),
            ("execution_id", self.execution_id.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("ferroflow.{k}"), v))
        .collect()
    }
}

/// At most `max` characters of `[A-Za-z0-9_.-]`, others replaced by `_`.
pub(super) fn safe(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect();
    if out.is_empty() { "_".into() } else { out }
}

/// FNV-1a over 8-byte words: a fast, stable content hash (not for security).
#[derive(Debug, Clone)]
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0 ^ w).wrapping_mul(PRIME);
        }
        for b in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(PRIME);
        }
        self.0 = (self.0 ^ bytes.len() as u64).wrapping_mul(PRIME);
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}
