//! Regression tests (issue 15): symbolic links planted inside a local artifacts folder were
//! followed for read, write and delete. Links that lead out of the root are refused (a 4xx
//! `InvalidPath` naming the link); links that stay inside keep working; nothing outside the
//! root is read, written or removed.

use std::os::unix::fs::symlink;
use std::path::Path;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sextant_artifacts::{
    ArtifactError, ArtifactStore, ByteStream, ObjectArtifactStore, StoreLocation,
};

fn body(data: &'static [u8]) -> ByteStream {
    futures::stream::iter([Ok(Bytes::from_static(data))]).boxed()
}

async fn read(store: &ObjectArtifactStore, path: &str) -> Result<Vec<u8>, ArtifactError> {
    let d = store.get(path).await?;
    let chunks: Vec<Bytes> = d.body.try_collect().await?;
    Ok(chunks.concat())
}

fn refused(r: Result<impl std::fmt::Debug, ArtifactError>, link: &str) {
    match r {
        Err(e @ ArtifactError::InvalidPath { .. }) => {
            let m = e.to_string();
            assert!(m.contains(link) && m.contains("symbolic link"), "{m}");
        }
        other => panic!("expected a refusal naming {link}, got {other:?}"),
    }
}

/// An artifacts root with `run/a.txt`, and outside it a secret file and a folder.
fn setup() -> (tempfile::TempDir, ObjectArtifactStore, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("artifacts");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("run")).unwrap();
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(root.join("run/a.txt"), "inside").unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::fs::write(outside.join("sub/deep.txt"), "deep").unwrap();
    let loc = StoreLocation::parse(&root.display().to_string()).unwrap();
    let store = ObjectArtifactStore::open(&loc).unwrap();
    (dir, store, outside)
}

fn outside_intact(outside: &Path) {
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "secret"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("sub/deep.txt")).unwrap(),
        "deep"
    );
    let names: Vec<_> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["secret.txt", "sub"], "nothing was written outside");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_link_out_of_the_root_is_not_followed() {
    let (dir, store, outside) = setup();
    let root = dir.path().join("artifacts");
    symlink(outside.join("secret.txt"), root.join("run/link.txt")).unwrap();
    refused(read(&store, "run/link.txt").await, "run/link.txt");
    refused(
        store.put("run/link.txt", body(b"overwritten")).await,
        "run/link.txt",
    );
    refused(store.delete("run/link.txt").await, "run/link.txt");
    // The listing leaves it out; the rest of the folder is as before.
    let names: Vec<String> = store
        .list("run")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(names, ["a.txt"]);
    // Deleting the folder that holds the link is refused too (it would follow it).
    refused(store.delete("run").await, "run/link.txt");
    assert_eq!(read(&store, "run/a.txt").await.unwrap(), b"inside");
    outside_intact(&outside);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_link_out_of_the_root_is_not_followed() {
    let (dir, store, outside) = setup();
    let root = dir.path().join("artifacts");
    symlink(&outside, root.join("run/out")).unwrap();
    refused(read(&store, "run/out/secret.txt").await, "run/out");
    refused(read(&store, "run/out/sub/deep.txt").await, "run/out");
    refused(
        store.put("run/out/new.txt", body(b"planted")).await,
        "run/out",
    );
    refused(
        store
            .put("run/out/sub/deep.txt", body(b"overwritten"))
            .await,
        "run/out",
    );
    refused(store.delete("run/out/secret.txt").await, "run/out");
    refused(store.delete("run/out").await, "run/out");
    refused(store.delete("run").await, "run/out");
    refused(store.list("run/out").await, "run/out");
    refused(store.create_multipart("run/out/big.bin").await, "run/out");
    let names: Vec<String> = store
        .list("run")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(names, ["a.txt"]);
    outside_intact(&outside);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_level_and_dangling_links_are_refused_too() {
    let (dir, store, outside) = setup();
    let root = dir.path().join("artifacts");
    symlink(&outside, root.join("top")).unwrap();
    symlink(dir.path().join("nowhere"), root.join("run/dangling")).unwrap();
    refused(read(&store, "top/secret.txt").await, "top");
    refused(store.put("run/dangling", body(b"x")).await, "run/dangling");
    refused(
        store.put("run/dangling/x", body(b"x")).await,
        "run/dangling",
    );
    let names: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(names, ["run"]);
    assert!(!dir.path().join("nowhere").exists());
    outside_intact(&outside);
}

#[tokio::test(flavor = "multi_thread")]
async fn links_that_stay_inside_the_root_still_work() {
    let (dir, store, outside) = setup();
    let root = dir.path().join("artifacts");
    symlink(root.join("run"), root.join("alias")).unwrap();
    assert_eq!(read(&store, "alias/a.txt").await.unwrap(), b"inside");
    store.put("alias/b.txt", body(b"bee")).await.unwrap();
    assert_eq!(read(&store, "run/b.txt").await.unwrap(), b"bee");
    outside_intact(&outside);
}
