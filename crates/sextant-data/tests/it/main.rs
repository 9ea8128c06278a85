//! Integration tests of sextant-data over real temporary repositories and local remotes.

mod formats;
mod workspace;
