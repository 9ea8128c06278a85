//! The PostgreSQL backend, for teams: a pool of connections, each transaction on one of them.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::StoreError;
use crate::db::{Db, Dialect, Row, Tx, Value, current_cancel_slot, numbered_placeholders};

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
        // The statement timeout, or a cancel sent because the request went away.
        if db.code() == &postgres::error::SqlState::QUERY_CANCELED {
            return StoreError::Timeout(format!("postgres: {}", db.message()));
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
        let mut client = self.config.connect(NoTls)?;
        // PostgreSQL 14+: notice a client that went away (a stopped server) while its query
        // runs, instead of finishing the query for nobody. Older servers lack the setting.
        let _ = client.batch_execute("SET client_connection_check_interval = 1000");
        Ok(PgConn {
            client,
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
    /// Every transaction's statement timeout in milliseconds (0: none). Set once migrations
    /// have run ([`PgDb::statement_timeout`]), so a long migration is never cut short.
    timeout_ms: Arc<AtomicU64>,
    /// The health check's own connection, so a check never queues behind busy pool
    /// connections; `None` until the first check, and after a failed one.
    health: Mutex<Option<Client>>,
    config: postgres::Config,
}

/// How long a request waits for a free pool connection before it is answered "busy".
const POOL_WAIT: Duration = Duration::from_secs(10);

/// The health check's statement timeout (and connect timeout of its connection).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

impl Drop for PgDb {
    /// The synchronous client blocks on its own runtime when a connection closes, which Tokio
    /// forbids on an async worker thread: close the pool on a plain thread instead.
    fn drop(&mut self) {
        let health = self.health.lock().ok().and_then(|mut h| h.take());
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || {
                drop(pool);
                drop(health);
            })
            .join();
        }
    }
}

/// The handle that sets a [`PgDb`]'s statement timeout.
#[derive(Clone)]
pub struct StatementTimeout(Arc<AtomicU64>);

impl StatementTimeout {
    /// Apply `limit` (None: no limit) to every transaction from now on.
    pub fn set(&self, limit: Option<Duration>) {
        let ms = limit.map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.0.store(ms, Ordering::Relaxed);
    }
}

/// While a transaction runs, its connection's cancel token is registered with the request's
/// cancel slot: a request that goes away cancels its running statement.
struct CancelRegistration(Option<crate::db::CancelSlot>);

impl CancelRegistration {
    fn new(client: &Client) -> Result<Self, StoreError> {
        let Some(slot) = current_cancel_slot() else {
            return Ok(Self(None));
        };
        let token = client.cancel_token();
        let hook = Box::new(move || {
            // The blocking cancel runs its own small runtime: never on an async thread.
            let _ = std::thread::spawn(move || {
                if let Err(e) = token.cancel_query(NoTls) {
                    tracing::debug!(error = %e, "could not cancel a PostgreSQL query");
                }
            });
        });
        if slot.set_hook(hook) {
            Ok(Self(Some(slot)))
        } else {
            Err(StoreError::Timeout(
                "the request was cancelled before its query ran".into(),
            ))
        }
    }
}

impl Drop for CancelRegistration {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.clear_hook();
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
            .connection_timeout(POOL_WAIT)
            .build(Manager {
                config: config.clone(),
            })
            .map_err(|e| StoreError::Open {
                target: redact(uri),
                message: e.to_string(),
            })?;
        Ok(Self {
            pool: Some(pool),
            describe: redact(uri),
            timeout_ms: Arc::new(AtomicU64::new(0)),
            health: Mutex::new(None),
            config,
        })
    }

    /// The handle that sets this database's statement timeout.
    pub fn statement_timeout(&self) -> StatementTimeout {
        StatementTimeout(Arc::clone(&self.timeout_ms))
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| StoreError::Internal("the PostgreSQL pool is closed".into()))?;
        pool.get().map_err(|e| {
            let state = pool.state();
            if state.connections >= pool.max_size() && state.idle_connections == 0 {
                StoreError::Timeout(format!(
                    "postgres: all {} connections stayed busy for {} s",
                    pool.max_size(),
                    POOL_WAIT.as_secs()
                ))
            } else {
                StoreError::Database(format!("postgres: no connection: {e}"))
            }
        })
    }

    /// `BEGIN ...` plus this database's statement timeout, sent as one round trip.
    fn begin(&self, begin: &str) -> String {
        match self.timeout_ms.load(Ordering::Relaxed) {
            0 => begin.to_owned(),
            ms => format!("{begin}; SET LOCAL statement_timeout = {ms}"),
        }
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
        let _cancel = CancelRegistration::new(&conn.client)?;
        conn.client
            .batch_execute(&self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
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
        let _cancel = CancelRegistration::new(&conn.client)?;
        conn.client
            .batch_execute(&self.begin("BEGIN"))
            .map_err(pg_err)?;
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

    /// `SELECT 1` on the health check's own connection (opened on demand, dropped after a
    /// failure), with a short timeout; a check still waiting makes the next one fail at once.
    fn ping(&self) -> Result<(), StoreError> {
        let mut slot = self.health.try_lock().map_err(|_| {
            StoreError::Timeout("postgres: the previous health check has not answered".into())
        })?;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let mut config = self.config.clone();
            config.connect_timeout(HEALTH_TIMEOUT);
            let mut client = config.connect(NoTls).map_err(pg_err)?;
            client
                .batch_execute(&format!(
                    "SET statement_timeout = {}",
                    HEALTH_TIMEOUT.as_millis()
                ))
                .map_err(pg_err)?;
            *slot = Some(client);
        }
        let result = match slot.as_mut() {
            Some(client) => client.simple_query("SELECT 1").map(|_| ()).map_err(pg_err),
            None => Err(StoreError::Internal("no health connection".into())),
        };
        if result.is_err() {
            *slot = None;
        }
        result
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
