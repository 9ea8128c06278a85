//! A small, dialect-aware layer over the two SQL engines.
//!
//! The store's logic is written once against [`Tx`] with `?` placeholders and dynamic
//! [`Value`]s; each backend ([`crate::sqlite`], [`crate::postgres`]) runs it inside a
//! transaction on one of its connections. All of it is blocking: the async store methods run it
//! on Tokio's blocking pool.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::StoreError;

/// The SQL dialect of a backend, for the few places where the engines differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A case-insensitive LIKE of `expr` against the next placeholder.
    pub fn ilike(self, expr: &str) -> String {
        match self {
            Self::Sqlite => format!("LOWER({expr}) LIKE LOWER(?)"),
            Self::Postgres => format!("{expr} ILIKE ?"),
        }
    }
}

/// A value bound to, or read from, SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    I64(i64),
    F64(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::F64(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Internal(format!("result column {i} is missing")))
    }

    pub fn i64(&self, i: usize) -> Result<i64, StoreError> {
        match self.at(i)? {
            Value::I64(v) => Ok(*v),
            #[expect(clippy::cast_possible_truncation, reason = "integral columns only")]
            Value::F64(v) => Ok(*v as i64),
            Value::Text(s) => s
                .parse()
                .map_err(|_| StoreError::Internal(format!("column {i}: '{s}' is not an integer"))),
            Value::Null => Err(StoreError::Internal(format!("column {i} is NULL"))),
        }
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.i64(i).map(Some),
        }
    }

    pub fn f64(&self, i: usize) -> Result<f64, StoreError> {
        match self.at(i)? {
            Value::F64(v) => Ok(*v),
            #[expect(
                clippy::cast_precision_loss,
                reason = "a REAL column holding an integer"
            )]
            Value::I64(v) => Ok(*v as f64),
            other => Err(StoreError::Internal(format!(
                "column {i}: {other:?} is not a number"
            ))),
        }
    }

    pub fn str(&self, i: usize) -> Result<String, StoreError> {
        match self.at(i)? {
            Value::Text(s) => Ok(s.clone()),
            Value::I64(v) => Ok(v.to_string()),
            Value::F64(v) => Ok(v.to_string()),
            Value::Null => Err(StoreError::Internal(format!("column {i} is NULL"))),
        }
    }

    pub fn opt_str(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.str(i).map(Some),
        }
    }
}

/// A transaction (or a read snapshot) on one connection.
pub trait Tx {
    fn dialect(&self) -> Dialect;
    /// Run a statement; returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Run a query and collect its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// A backend: hands out connections for reads and for writes.
pub trait Db: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// Run `f` on a read connection (a consistent snapshot where the engine gives one).
    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
    /// Run `f` in a write transaction: committed if it returns `Ok`, rolled back otherwise.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
    /// A short description for logs (never includes a password).
    fn describe(&self) -> String;
    /// Whether the database answers a trivial query; backends with a pool answer on a
    /// connection of their own, so a busy pool does not make the check wait.
    fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| tx.query("SELECT 1", &[]).map(|_| ()))
    }
}

/// How to stop the statement a backend is running for one request.
type CancelHook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct CancelState {
    cancelled: bool,
    hook: Option<CancelHook>,
}

/// Cancels the database work of a request whose caller went away (the HTTP client hung up,
/// the server stopped): the async side holds it while a blocking store call runs, and the
/// backend registers, for as long as it runs statements for that call, how to cancel them
/// (PostgreSQL: a cancel request on the connection's cancel token).
#[derive(Clone, Default)]
pub struct CancelSlot(Arc<Mutex<CancelState>>);

impl CancelSlot {
    /// Cancel now: run the registered hook, if any, and refuse later registrations.
    pub fn cancel(&self) {
        let hook = match self.0.lock() {
            Ok(mut s) => {
                s.cancelled = true;
                s.hook.take()
            }
            Err(_) => None,
        };
        if let Some(h) = hook {
            h();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.lock().map(|s| s.cancelled).unwrap_or(true)
    }

    /// Register how to cancel the work now starting; false (and nothing registered) if the
    /// slot was cancelled already.
    pub fn set_hook(&self, hook: CancelHook) -> bool {
        match self.0.lock() {
            Ok(mut s) if !s.cancelled => {
                s.hook = Some(hook);
                true
            }
            _ => false,
        }
    }

    /// The work is over: forget the hook.
    pub fn clear_hook(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.hook = None;
        }
    }

    /// A guard that cancels this slot when dropped, unless [`CancelOnDrop::disarm`]ed.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }
}

/// Cancels its slot when dropped before being disarmed: hold it across the `.await` of a
/// blocking store call, so dropping the request's future cancels the query.
pub struct CancelOnDrop(Option<CancelSlot>);

impl CancelOnDrop {
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.cancel();
        }
    }
}

thread_local! {
    static CURRENT_CANCEL: RefCell<Option<CancelSlot>> = const { RefCell::new(None) };
}

/// Run `f` (a blocking store call) with `slot` as the current thread's cancel slot, which
/// backends pick up with [`current_cancel_slot`].
pub fn with_cancel_slot<T>(slot: &CancelSlot, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<CancelSlot>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT_CANCEL.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT_CANCEL.with(|c| c.borrow_mut().replace(slot.clone()));
    let _reset = Reset(prev);
    f()
}

/// The cancel slot of the store call running on this thread, if any.
pub fn current_cancel_slot() -> Option<CancelSlot> {
    CURRENT_CANCEL.with(|c| c.borrow().clone())
}

/// `?, ?, ?` with `n` placeholders.
pub fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// Rewrite `?` placeholders as PostgreSQL's `$1, $2, ...`. Question marks inside single-quoted
/// literals are left alone.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut in_str = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_str = !in_str;
                out.push(c);
            }
            '?' if !in_str => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_slot_runs_its_hook_once_and_refuses_late_hooks() {
        let slot = CancelSlot::default();
        let hits = Arc::new(Mutex::new(0));
        let h = Arc::clone(&hits);
        assert!(slot.set_hook(Box::new(move || *h.lock().unwrap() += 1)));
        let guard = slot.cancel_on_drop();
        drop(guard);
        slot.cancel();
        assert_eq!(*hits.lock().unwrap(), 1);
        assert!(slot.is_cancelled());
        assert!(!slot.set_hook(Box::new(|| {})));

        let kept = CancelSlot::default();
        kept.cancel_on_drop().disarm();
        assert!(!kept.is_cancelled());
        assert!(with_cancel_slot(&kept, || current_cancel_slot().is_some()));
        assert!(current_cancel_slot().is_none());
    }

    #[test]
    fn placeholders_are_numbered_outside_literals() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)"
        );
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(placeholders(0), "");
    }
}
