//! Memorable run names (`loud-robin-264`), as MLflow gives runs started without a name.

use rand::Rng;

const ADJECTIVES: &[&str] = &[
    "able", "bold", "brave", "bright", "calm", "clever", "crisp", "dapper", "eager", "fast",
    "fierce", "gentle", "glad", "grand", "happy", "honest", "jolly", "keen", "kind", "lively",
    "loud", "lucky", "merry", "mighty", "neat", "nimble", "polite", "proud", "quick", "quiet",
    "rare", "rich", "shy", "silent", "sleek", "smart", "steady", "sunny", "swift", "tidy", "vast",
    "warm", "wise", "witty", "zealous",
];

const NOUNS: &[&str] = &[
    "ant", "bass", "bat", "bear", "bee", "bird", "boar", "carp", "cat", "colt", "crab", "crane",
    "crow", "deer", "doe", "dove", "duck", "eel", "elk", "finch", "fish", "fox", "frog", "goat",
    "gull", "hare", "hawk", "hen", "heron", "horse", "jay", "kite", "lark", "lion", "lynx", "mole",
    "moth", "newt", "owl", "ox", "panda", "ram", "robin", "seal", "shrew", "sloth", "snail",
    "swan", "toad", "trout", "whale", "wolf", "wren", "yak",
];

/// A fresh random run name: `adjective-noun-NNN`.
pub fn random_run_name() -> String {
    let mut rng = rand::rng();
    let a = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let n = NOUNS[rng.random_range(0..NOUNS.len())];
    let d: u16 = rng.random_range(0..1000);
    format!("{a}-{n}-{d}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_have_three_parts() {
        let n = super::random_run_name();
        assert_eq!(n.split('-').count(), 3, "{n}");
    }
}
