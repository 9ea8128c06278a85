//! A short-lived, bounded cache of verified credentials.
//!
//! Checking a password is deliberately slow (argon2); an mlflow client sends the password with
//! every request. A successful check is remembered for a short time under a keyed hash of the
//! credentials (never the password itself, and the key lives only in this process), so the hash
//! is computed once per TTL, not per request. Changing a user's password or admin flag,
//! deleting the user or revoking a token forgets the user's entries at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::token::{SecretHasher, new_store_key};

/// Default time a verified credential is trusted without checking again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Default bound on the number of remembered credentials.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A value remembered for a verified credential; `username` is what [`CredentialCache::forget_user`]
/// matches.
pub trait Cached: Clone {
    fn username(&self) -> &str;
}

struct Entry<V> {
    value: V,
    expires: Instant,
}

/// Verified credentials -> what they proved, for a short time.
pub struct CredentialCache<V> {
    ttl: Duration,
    capacity: usize,
    hasher: SecretHasher,
    map: Mutex<HashMap<[u8; 32], Entry<V>>>,
}

impl<V: Cached> CredentialCache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            hasher: SecretHasher::new(new_store_key().as_bytes()),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, parts: &[&str]) -> [u8; 32] {
        let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        self.hasher.mac(&bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry<V>>> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What these credentials proved, if they were verified less than the TTL ago.
    pub fn get(&self, parts: &[&str]) -> Option<V> {
        let k = self.key(parts);
        let mut map = self.lock();
        match map.get(&k) {
            Some(e) if e.expires > Instant::now() => Some(e.value.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Remember that these credentials proved `value`, for at most the TTL (and never past
    /// `not_after`, e.g. a token's expiry).
    pub fn insert(&self, parts: &[&str], value: V, not_after: Option<Instant>) {
        let k = self.key(parts);
        let mut expires = Instant::now() + self.ttl;
        if let Some(t) = not_after {
            expires = expires.min(t);
        }
        let mut map = self.lock();
        if map.len() >= self.capacity {
            let now = Instant::now();
            map.retain(|_, e| e.expires > now);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(k, Entry { value, expires });
    }

    /// Forget every credential of `username` (password changed, admin flag changed, user
    /// deleted, token revoked).
    pub fn forget_user(&self, username: &str) {
        self.lock().retain(|_, e| e.value.username() != username);
    }

    /// Forget everything.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct U(String);
    impl Cached for U {
        fn username(&self) -> &str {
            &self.0
        }
    }

    #[test]
    fn remembers_forgets_and_expires() {
        let c = CredentialCache::new(Duration::from_secs(60), 2);
        assert_eq!(c.get(&["ann", "pw"]), None);
        c.insert(&["ann", "pw"], U("ann".into()), None);
        assert_eq!(c.get(&["ann", "pw"]), Some(U("ann".into())));
        assert_eq!(
            c.get(&["ann", "pW"]),
            None,
            "another password is not cached"
        );
        assert_eq!(c.get(&["an", "npw"]), None, "parts are not concatenated");
        c.forget_user("ann");
        assert_eq!(c.get(&["ann", "pw"]), None);
        // Never past `not_after`.
        c.insert(&["bob", "pw"], U("bob".into()), Some(Instant::now()));
        assert_eq!(c.get(&["bob", "pw"]), None);
        // Bounded.
        for i in 0..5 {
            c.insert(&[&i.to_string()], U(i.to_string()), None);
        }
        assert!(c.lock().len() <= 2);
    }
}
