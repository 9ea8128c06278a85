//! The embedded SQLite backend.
//!
//! One writer connection (SQLite allows one writer at a time; serialising writes here instead of
//! in SQLite's busy handler is what keeps `database is locked` away from clients) and a pool of
//! reader connections, all in WAL mode so readers never block the writer. `synchronous=NORMAL`
//! in WAL mode keeps every committed transaction across a killed process; only a power cut can
//! lose the last few commits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::StoreError;
use crate::db::{Db, Dialect, Row, Tx, Value};

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::I64(v) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*v)),
            Value::F64(v) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(format!("sqlite: {e}"))
}

struct SqliteTx<'a> {
    conn: &'a Connection,
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(sql_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(sql_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(sql_err)?;
        let ncols = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(sql_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql_err)? {
            let mut vals = Vec::with_capacity(ncols);
            for i in 0..ncols {
                vals.push(match r.get_ref(i).map_err(sql_err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::I64(v),
                    ValueRef::Real(v) => Value::F64(v),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }
}

/// The SQLite database of a store.
pub struct SqliteDb {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

const MAX_IDLE_READERS: usize = 16;

fn open_conn(path: &Path, write: bool) -> Result<Connection, StoreError> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::Open {
        target: path.display().to_string(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    // Page caches: 16 MiB for the writer (the hot B-tree pages: the right edge of
    // metric_points' index and the run tables), 8 MiB per reader (history and search scans
    // read sequentially; the OS page cache holds the file). Measured with `bench/run ingest`
    // (20 s, 8 clients, same machine and load): 64/32 MiB gave 302,000 points/s at 131 MB RSS,
    // 16/8 MiB 333,000 points/s at 85 MB: the larger caches only cost memory.
    let pragmas = if write {
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
         PRAGMA case_sensitive_like=ON; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384; \
         PRAGMA wal_autocheckpoint=8192;"
    } else {
        "PRAGMA case_sensitive_like=ON; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-8192;"
    };
    conn.execute_batch(pragmas).map_err(sql_err)?;
    Ok(conn)
}

impl SqliteDb {
    /// Open (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                target: dir.display().to_string(),
                message: format!("cannot create the directory: {e}"),
            })?;
        }
        let writer = open_conn(path, true)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let pooled = self.readers.lock().ok().and_then(|mut v| v.pop());
        match pooled {
            Some(c) => Ok(c),
            None => open_conn(&self.path, false),
        }
    }

    fn return_reader(&self, conn: Connection) {
        if let Ok(mut v) = self.readers.lock() {
            if v.len() < MAX_IDLE_READERS {
                v.push(conn);
            }
        }
    }
}

impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.take_reader()?;
        // A deferred transaction gives the whole read one consistent snapshot.
        conn.execute_batch("BEGIN").map_err(sql_err)?;
        let out = f(&mut SqliteTx { conn: &conn });
        let end = conn.execute_batch("COMMIT").map_err(sql_err);
        if out.is_ok() && end.is_ok() {
            self.return_reader(conn);
        }
        let v = out?;
        end?;
        Ok(v)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Internal("the SQLite writer lock is poisoned".into()))?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_err)?;
        match f(&mut SqliteTx { conn: &conn }) {
            Ok(v) => match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(sql_err(e))
                }
            },
            Err(e) => {
                conn.execute_batch("ROLLBACK").map_err(sql_err)?;
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        format!("sqlite:///{}", self.path.display())
    }
}
