//! The PostgreSQL backend, for teams: a pool of connections, each transaction on one of them.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::StoreError;
use crate::db::{Db, Dialect, Row, Tx, Value, numbered_placeholders};

type BoxErr = Box<dyn StdError + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxErr> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::I64(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "integer bound to a float column"
                )]
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::F64(v) => match *ty {
                #[expect(clippy::cast_possible_truncation, reason = "float bound to int column")]
                Type::INT8 => (*v as i64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn pg_err(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if db.code() == &postgres::error::SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(db.message().to_owned());
        }
        return StoreError::Database(format!("postgres: {}: {}", db.code().code(), db.message()));
    }
    StoreError::Database(format!("postgres: {e}"))
}

/// A pooled connection with its prepared statements.
pub struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

struct PgTx<'a> {
    conn: &'a mut PgConn,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .conn
            .client
            .prepare(&numbered_placeholders(sql))
            .map_err(pg_err)?;
        if self.conn.statements.len() > 512 {
            self.conn.statements.clear();
        }
        self.conn.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

fn params_of(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn read_value(row: &postgres::Row, i: usize) -> Result<Value, StoreError> {
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::I64)),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map(|v| v.map(|x| Value::I64(i64::from(x)))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map(|v| v.map(|x| Value::I64(i64::from(x)))),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map(|v| v.map(|x| Value::I64(i64::from(x)))),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::F64)),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map(|v| v.map(|x| Value::F64(f64::from(x)))),
        _ => row
            .try_get::<_, Option<String>>(i)
            .map(|v| v.map(Value::Text)),
    };
    Ok(v.map_err(pg_err)?.unwrap_or(Value::Null))
}

impl Tx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        self.conn
            .client
            .execute(&stmt, &params_of(params))
            .map_err(pg_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let rows = self
            .conn
            .client
            .query(&stmt, &params_of(params))
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| read_value(r, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }
}

/// A PostgreSQL database reached through a connection pool.
pub struct PgDb {
    /// Always `Some` until dropped; see the `Drop` impl.
    pool: Option<r2d2::Pool<Manager>>,
    describe: String,
}

impl Drop for PgDb {
    /// The synchronous client blocks on its own runtime when a connection closes, which Tokio
    /// forbids on an async worker thread: close the pool on a plain thread instead.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl PgDb {
    /// Connect to `uri` (`postgresql://user:password@host:port/dbname`).
    pub fn open(uri: &str) -> Result<Self, StoreError> {
        let config: postgres::Config = uri.parse().map_err(|e| StoreError::Open {
            target: redact(uri),
            message: format!("not a valid PostgreSQL URI: {e}"),
        })?;
        let pool = r2d2::Pool::builder()
            .max_size(16)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(15))
            .build(Manager { config })
            .map_err(|e| StoreError::Open {
                target: redact(uri),
                message: e.to_string(),
            })?;
        Ok(Self {
            pool: Some(pool),
            describe: redact(uri),
        })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.pool
            .as_ref()
            .ok_or_else(|| StoreError::Internal("the PostgreSQL pool is closed".into()))?
            .get()
            .map_err(|e| StoreError::Database(format!("postgres: no connection: {e}")))
    }
}

/// The URI without its password.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &uri[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &uri[..s + 3], &creds[..c], &uri[at..]),
                None => uri.to_owned(),
            }
        }
        _ => uri.to_owned(),
    }
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        conn.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(pg_err)?;
        let out = f(&mut PgTx { conn: &mut conn });
        let end = conn.client.batch_execute("COMMIT").map_err(pg_err);
        let v = out?;
        end?;
        Ok(v)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        conn.client.batch_execute("BEGIN").map_err(pg_err)?;
        match f(&mut PgTx { conn: &mut conn }) {
            Ok(v) => {
                conn.client.batch_execute("COMMIT").map_err(pg_err)?;
                Ok(v)
            }
            Err(e) => {
                conn.client.batch_execute("ROLLBACK").map_err(pg_err)?;
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://bob:secret@db:5432/x"),
            "postgresql://bob:***@db:5432/x"
        );
        assert_eq!(
            redact("postgresql://bob@db:5432/x"),
            "postgresql://bob@db:5432/x"
        );
    }
}
