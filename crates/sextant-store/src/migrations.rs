//! Numbered schema migrations, applied in order on open, each in its own transaction.
//!
//! A store written by an older Sextant opens in a newer one: the newer one applies only the
//! migrations the store has not seen. A store written by a *newer* Sextant is refused rather
//! than misread.

use crate::db::{Db, Dialect, Value};
use crate::{Result, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tracking",
        sqlite: include_str!("../migrations/sqlite/0001_tracking.sql"),
        postgres: include_str!("../migrations/postgres/0001_tracking.sql"),
    },
    Migration {
        version: 2,
        name: "registry",
        sqlite: include_str!("../migrations/sqlite/0002_registry.sql"),
        postgres: include_str!("../migrations/postgres/0002_registry.sql"),
    },
    Migration {
        version: 3,
        name: "metric_series",
        sqlite: include_str!("../migrations/sqlite/0003_metric_series.sql"),
        postgres: include_str!("../migrations/postgres/0003_metric_series.sql"),
    },
    Migration {
        version: 4,
        name: "auth",
        sqlite: include_str!("../migrations/sqlite/0004_auth.sql"),
        postgres: include_str!("../migrations/postgres/0004_auth.sql"),
    },
    Migration {
        version: 5,
        name: "registry_integrity",
        sqlite: include_str!("../migrations/sqlite/0005_registry_integrity.sql"),
        postgres: include_str!("../migrations/postgres/0005_registry_integrity.sql"),
    },
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Split a migration file into statements: comment lines (`-- ...`) are dropped first, so a
/// semicolon in a comment cannot split a statement (no semicolons inside our literals).
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Apply every pending migration.
pub fn migrate(db: &impl Db) -> Result<()> {
    migrate_to(db, latest_version())
}

/// The schema version a store is at (0 for an empty database). Takes the migrations lock on
/// PostgreSQL, so callers inside one transaction see a stable answer.
fn current_version(tx: &mut dyn crate::db::Tx) -> Result<i64> {
    if tx.dialect() == Dialect::Postgres {
        tx.exec(
            "LOCK TABLE sextant_schema_migrations IN EXCLUSIVE MODE",
            &[],
        )?;
    }
    tx.query_opt(
        "SELECT COALESCE(MAX(version), 0) FROM sextant_schema_migrations",
        &[],
    )?
    .map_or(Ok(0), |r| r.i64(0))
}

/// Apply the pending migrations up to `target`. Each runs in its own transaction together with
/// the check of the current version, so servers starting at once on one PostgreSQL database
/// apply each migration exactly once.
pub(crate) fn migrate_to(db: &impl Db, target: i64) -> Result<()> {
    db.write(|tx| {
        tx.exec(
            "CREATE TABLE IF NOT EXISTS sextant_schema_migrations (\
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            &[],
        )
        .map(|_| ())
    })?;
    let current = db.write(current_version)?;
    if current > latest_version() {
        return Err(StoreError::Open {
            target: db.describe(),
            message: format!(
                "the store has schema version {current}, newer than this Sextant knows ({}); \
                 upgrade Sextant",
                latest_version()
            ),
        });
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
        db.write(|tx| {
            if current_version(tx)? >= m.version {
                return Ok(()); // another starter applied it meanwhile
            }
            tracing::info!(version = m.version, name = m.name, "applying migration");
            let sql = match tx.dialect() {
                Dialect::Sqlite => m.sqlite,
                Dialect::Postgres => m.postgres,
            };
            for stmt in statements(sql) {
                tx.exec(&stmt, &[])?;
            }
            tx.exec(
                "INSERT INTO sextant_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                &[
                    Value::I64(m.version),
                    m.name.into(),
                    Value::I64(sextant_types::now_millis()),
                ],
            )?;
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_and_skip_comments() {
        let s = statements("-- c\nCREATE TABLE a (x INT);\n\n-- d; e\nCREATE INDEX i ON a (x);\n");
        assert_eq!(s, vec!["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]);
    }

    #[test]
    fn a_store_from_an_older_version_opens_and_keeps_its_data() {
        use crate::db::Db;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            // A store as an earlier build wrote it: migrations 1 and 2, with data in it.
            let db = crate::sqlite::SqliteDb::open(&path).expect("open");
            migrate_to(&db, 2).expect("migrate to 2");
            db.write(|tx| {
                tx.exec(
                    "INSERT INTO experiments (experiment_id, name, artifact_location, \
                     lifecycle_stage, creation_time, last_update_time) \
                     VALUES (7, 'old-exp', 'mlflow-artifacts:/7', 'active', 1, 1)",
                    &[],
                )?;
                // Metric points in the version-2 layout (keyed by run and key text).
                tx.exec(
                    "INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan) VALUES \
                     ('r1', 'loss', 0, 10, 0.5, 0), ('r1', 'loss', 1, 11, 0.25, 0), \
                     ('r1', 'acc', 0, 10, 0.9, 0), ('r2', 'loss', 0, 12, 0.0, 1)",
                    &[],
                )
                .map(|_| ())
            })
            .expect("insert");
            let has_series = db
                .read(|tx| {
                    tx.query_opt(
                        "SELECT 1 FROM sqlite_master WHERE name = 'metric_series'",
                        &[],
                    )
                })
                .expect("query");
            assert!(has_series.is_none(), "version 2 has no metric_series table");
        }
        // Opened by this build: migrated forward, data intact, registry usable.
        let db = crate::sqlite::SqliteDb::open(&path).expect("reopen");
        migrate(&db).expect("migrate");
        db.read(|tx| {
            let v = tx
                .query_opt("SELECT MAX(version) FROM sextant_schema_migrations", &[])?
                .map(|r| r.i64(0))
                .transpose()?;
            assert_eq!(v, Some(latest_version()));
            let name = tx
                .query_opt("SELECT name FROM experiments WHERE experiment_id = 7", &[])?
                .map(|r| r.str(0))
                .transpose()?;
            assert_eq!(name.as_deref(), Some("old-exp"));
            assert_eq!(tx.query("SELECT * FROM registered_models", &[])?.len(), 0);
            // Every metric point moved to its series, none lost or duplicated.
            let pts = tx.query(
                "SELECT s.run_uuid, s.key, p.step, p.timestamp, p.value, p.is_nan \
                 FROM metric_points p JOIN metric_series s ON s.series_id = p.series_id \
                 ORDER BY s.run_uuid, s.key, p.step",
                &[],
            )?;
            let got: Vec<(String, String, i64, f64, i64)> = pts
                .iter()
                .map(|r| Ok((r.str(0)?, r.str(1)?, r.i64(2)?, r.f64(4)?, r.i64(5)?)))
                .collect::<Result<_>>()?;
            assert_eq!(
                got,
                vec![
                    ("r1".into(), "acc".into(), 0, 0.9, 0),
                    ("r1".into(), "loss".into(), 0, 0.5, 0),
                    ("r1".into(), "loss".into(), 1, 0.25, 0),
                    ("r2".into(), "loss".into(), 0, 0.0, 1),
                ]
            );
            assert!(
                tx.query_opt("SELECT 1 FROM sqlite_master WHERE name = 'metrics'", &[])?
                    .is_none(),
                "the old table is gone"
            );
            Ok(())
        })
        .expect("read");
        // Applying again is a no-op.
        migrate(&db).expect("migrate twice");
    }

    #[test]
    fn versions_increase() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }
}
