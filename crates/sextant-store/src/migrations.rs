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
    db.write(|tx| {
        tx.exec(
            "CREATE TABLE IF NOT EXISTS sextant_schema_migrations (\
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            &[],
        )
        .map(|_| ())
    })?;
    // PostgreSQL: serialise concurrent starters on the same database.
    let current = db.write(|tx| {
        if tx.dialect() == Dialect::Postgres {
            tx.exec(
                "LOCK TABLE sextant_schema_migrations IN EXCLUSIVE MODE",
                &[],
            )?;
        }
        let row = tx.query_opt(
            "SELECT COALESCE(MAX(version), 0) FROM sextant_schema_migrations",
            &[],
        )?;
        row.map_or(Ok(0), |r| r.i64(0))
    })?;
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
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        db.write(|tx| {
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
    fn versions_increase() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }
}
