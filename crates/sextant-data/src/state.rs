//! The persistent stat cache: `(path, inode, size, mtime ns) -> md5`, in SQLite at
//! `.dvc/tmp/sextant-state.db` — inside the repository (so it travels with a shared volume),
//! not in a machine-global folder. A file whose stat signature is unchanged is not read again,
//! which makes a no-change `status` on a large tree a matter of `stat` calls.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::error::{Error, Result};
use crate::hash::Oid;

/// File name under `.dvc/tmp`.
pub const FILE_NAME: &str = "sextant-state.db";

/// What identifies an unchanged file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub inode: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

impl Stat {
    /// The signature of a file's metadata.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            inode: meta.ino(),
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
        }
    }
}

/// The stat cache, loaded whole into memory for lookups and written back in one transaction.
pub struct StatCache {
    path: PathBuf,
    conn: Connection,
    known: HashMap<String, (Stat, Oid)>,
    pending: Vec<(String, Stat, Oid)>,
}

impl StatCache {
    /// Open (creating it if needed) the stat cache of the repository whose `.dvc` is `dvc_dir`.
    pub fn open(dvc_dir: &Path) -> Result<Self> {
        let dir = dvc_dir.join("tmp");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let err = |source| Error::State {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        // The default rollback journal, not WAL: two processes (e.g. two `sextant repro`)
        // opening and closing a WAL database at once got "database is locked" without waiting
        // for busy_timeout (1 in 3 runs here); with a rollback journal and IMMEDIATE write
        // transactions every lock waits.
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS state (
                 path TEXT PRIMARY KEY, inode INTEGER NOT NULL, size INTEGER NOT NULL,
                 mtime_ns INTEGER NOT NULL, md5 TEXT NOT NULL) WITHOUT ROWID;",
        )
        .map_err(err)?;
        let mut known = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT path, inode, size, mtime_ns, md5 FROM state")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Stat {
                            inode: r.get::<_, i64>(1)? as u64,
                            size: r.get::<_, i64>(2)? as u64,
                            mtime_ns: r.get(3)?,
                        },
                        r.get::<_, String>(4)?,
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (p, s, m) = row.map_err(err)?;
                // A row that is not a hash (a damaged or planted file) is a miss: re-hashed.
                if let Ok(m) = Oid::parse(&m) {
                    known.insert(p, (s, m));
                }
            }
        }
        Ok(Self {
            path,
            conn,
            known,
            pending: Vec::new(),
        })
    }

    /// The md5 recorded for `key` (a path relative to the repository root) if its stat
    /// signature still matches.
    pub fn get(&self, key: &str, stat: Stat) -> Option<&Oid> {
        match self.known.get(key) {
            Some((s, md5)) if *s == stat => Some(md5),
            _ => None,
        }
    }

    /// Remember a freshly computed hash (written on [`Self::flush`]).
    pub fn put(&mut self, key: String, stat: Stat, md5: Oid) {
        if self.get(&key, stat) == Some(&md5) {
            return;
        }
        self.known.insert(key.clone(), (stat, md5.clone()));
        self.pending.push((key, stat, md5));
    }

    /// Write pending entries in one transaction.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |source| Error::State {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut stmt = tx
                .prepare("INSERT OR REPLACE INTO state (path, inode, size, mtime_ns, md5) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(err)?;
            for (p, s, m) in &self.pending {
                stmt.execute(params![
                    p,
                    s.inode as i64,
                    s.size as i64,
                    s.mtime_ns,
                    m.as_str()
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_opens_and_misses_on_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stat {
            inode: 7,
            size: 10,
            mtime_ns: 1_700_000_000_123_456_789,
        };
        {
            let mut c = StatCache::open(dir.path()).unwrap();
            assert_eq!(c.get("a", s), None);
            c.put(
                "a".into(),
                s,
                Oid::parse("b1946ac92492d2347c6235b4d2611184").unwrap(),
            );
            c.flush().unwrap();
        }
        assert!(dir.path().join("tmp").join(FILE_NAME).is_file());
        let c = StatCache::open(dir.path()).unwrap();
        assert_eq!(
            c.get("a", s).map(Oid::as_str),
            Some("b1946ac92492d2347c6235b4d2611184")
        );
        assert_eq!(
            c.get(
                "a",
                Stat {
                    mtime_ns: s.mtime_ns + 1,
                    ..s
                }
            ),
            None
        );
        assert_eq!(c.get("a", Stat { size: 11, ..s }), None);
        assert_eq!(c.get("a", Stat { inode: 8, ..s }), None);
        assert_eq!(c.get("b", s), None);
    }

    #[test]
    fn a_row_that_is_not_a_hash_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stat {
            inode: 7,
            size: 10,
            mtime_ns: 1,
        };
        drop(StatCache::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("tmp").join(FILE_NAME)).unwrap();
        for (path, md5) in [
            ("bad", "../../../../etc/passwd"),
            ("good", "b1946ac92492d2347c6235b4d2611184"),
        ] {
            conn.execute(
                "INSERT INTO state (path, inode, size, mtime_ns, md5) VALUES (?1, 7, 10, 1, ?2)",
                params![path, md5],
            )
            .unwrap();
        }
        drop(conn);
        let c = StatCache::open(dir.path()).unwrap();
        assert_eq!(c.get("bad", s), None);
        assert_eq!(
            c.get("good", s).map(Oid::as_str),
            Some("b1946ac92492d2347c6235b4d2611184")
        );
    }
}
