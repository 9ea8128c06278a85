//! Random secrets (API tokens, session cookies) and their keyed hashes.
//!
//! A secret is 32 random bytes (256 bits) from the operating system's CSPRNG (through
//! `rand`'s thread generator), base64url-encoded. The store keeps only
//! `HMAC-SHA256(store key, secret)`: looking a secret up is one indexed equality query, and a
//! copy of the database alone yields neither usable tokens nor (without the key) a way to test
//! guesses offline.

use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix of API tokens, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "sxt_";

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A new API token secret: `sxt_` and 43 characters (256 random bits).
pub fn new_token_secret() -> String {
    format!("{TOKEN_PREFIX}{}", random_b64(32))
}

/// A new session secret (the `sextant_session` cookie's value), 256 random bits.
pub fn new_session_secret() -> String {
    random_b64(32)
}

/// A new public identifier (of a token): 128 random bits, hex.
pub fn new_id() -> String {
    let mut buf = [0u8; 16];
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

/// A new store key for [`SecretHasher`]: 256 random bits, base64url.
pub fn new_store_key() -> String {
    random_b64(32)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Keyed hashes of secrets under one store's key.
#[derive(Clone)]
pub struct SecretHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(<key>)")
    }
}

impl SecretHasher {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// `HMAC-SHA256(key, secret)` as lowercase hex: what the store keeps and looks up.
    pub fn hash(&self, secret: &str) -> String {
        hex(&self.mac(&[secret.as_bytes()]))
    }

    /// The raw MAC of several parts, each prefixed by its length (no ambiguity between
    /// `("ab", "c")` and `("a", "bc")`).
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts a key of any length; this cannot fail.
        let mut m = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_key(),
        };
        for p in parts {
            m.update(&(p.len() as u64).to_le_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

#[cold]
fn unreachable_key() -> ! {
    panic!("HMAC-SHA256 accepts keys of every length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed_by_key() {
        let a = new_token_secret();
        let b = new_token_secret();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(new_id().len(), 32);
        let h1 = SecretHasher::new(b"k1");
        let h2 = SecretHasher::new(b"k2");
        assert_eq!(h1.hash(&a), h1.hash(&a));
        assert_ne!(h1.hash(&a), h2.hash(&a), "the key matters");
        assert_ne!(h1.hash(&a), h1.hash(&b));
        assert_eq!(h1.hash(&a).len(), 64);
        assert_ne!(h1.mac(&[b"ab", b"c"]), h1.mac(&[b"a", b"bc"]));
    }
}
