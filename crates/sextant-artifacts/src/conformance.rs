//! A conformance suite every [`ArtifactStore`] must pass, run against local disk, memory and a
//! real S3-compatible server by this crate's integration tests. Each check panics with a message
//! naming the broken rule.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::{ArtifactError, ArtifactStore, ByteStream, CompletedPart};

fn stream_of(data: Vec<u8>, chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks).boxed()
}

async fn read_all(store: &dyn ArtifactStore, path: &str) -> Vec<u8> {
    let d = store
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("get {path}: {e}"));
    let chunks: Vec<Bytes> = d.body.try_collect().await.expect("download stream");
    let data = chunks.concat();
    assert_eq!(
        d.size,
        data.len() as u64,
        "reported size of {path} matches its content"
    );
    data
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| u8::try_from((i * 31 + usize::from(seed)) % 251).unwrap_or(0))
        .collect()
}

/// Run every check under `root` (a fresh prefix per run).
pub async fn run_all(store: &dyn ArtifactStore, root: &str) {
    put_get_delete_list(store, root).await;
    nested_listing(store, root).await;
    path_safety(store).await;
    large_streaming(store, root).await;
    multipart_roundtrip(store, root).await;
}

pub async fn put_get_delete_list(store: &dyn ArtifactStore, root: &str) {
    let p = format!("{root}/a/hello.txt");
    let n = store
        .put(&p, stream_of(b"hello".to_vec(), 2))
        .await
        .expect("put");
    assert_eq!(n, 5);
    assert_eq!(read_all(store, &p).await, b"hello");
    store
        .put(&p, stream_of(b"bye".to_vec(), 64))
        .await
        .expect("overwrite");
    assert_eq!(
        read_all(store, &p).await,
        b"bye",
        "an overwrite replaces the content"
    );
    let empty = format!("{root}/a/empty.bin");
    store
        .put(&empty, stream_of(Vec::new(), 1))
        .await
        .expect("empty put");
    assert_eq!(read_all(store, &empty).await, b"");
    let listing = store.list(&format!("{root}/a")).await.expect("list");
    let names: Vec<_> = listing
        .iter()
        .map(|f| (f.path.as_str(), f.is_dir, f.file_size))
        .collect();
    assert_eq!(
        names,
        vec![("empty.bin", false, Some(0)), ("hello.txt", false, Some(3))]
    );
    assert!(
        store.list(&p).await.expect("list a file").is_empty(),
        "listing a file gives nothing"
    );
    assert!(
        store
            .list(&format!("{root}/nope"))
            .await
            .expect("list missing")
            .is_empty()
    );
    store.delete(&p).await.expect("delete file");
    assert!(
        matches!(store.get(&p).await, Err(ArtifactError::NotFound { .. })),
        "deleted file is gone"
    );
    assert!(
        matches!(store.delete(&p).await, Err(ArtifactError::NotFound { .. })),
        "deleting nothing is NotFound"
    );
}

pub async fn nested_listing(store: &dyn ArtifactStore, root: &str) {
    for f in ["d/x.json", "d/sub/y.txt", "d/sub/deeper/z.txt", "top.txt"] {
        store
            .put(
                &format!("{root}/n/{f}"),
                stream_of(f.as_bytes().to_vec(), 3),
            )
            .await
            .expect("put");
    }
    let l = store.list(&format!("{root}/n")).await.expect("list");
    let names: Vec<_> = l.iter().map(|f| (f.path.as_str(), f.is_dir)).collect();
    assert_eq!(names, vec![("d", true), ("top.txt", false)]);
    assert_eq!(l[0].file_size, None, "directories carry no size");
    let l = store
        .list(&format!("{root}/n/d/"))
        .await
        .expect("list with trailing slash");
    let names: Vec<_> = l.iter().map(|f| (f.path.as_str(), f.is_dir)).collect();
    assert_eq!(names, vec![("sub", true), ("x.json", false)]);
    store
        .delete(&format!("{root}/n/d"))
        .await
        .expect("delete a directory");
    let l = store.list(&format!("{root}/n")).await.expect("list");
    assert_eq!(l.len(), 1, "only top.txt remains: {l:?}");
}

pub async fn path_safety(store: &dyn ArtifactStore) {
    for p in ["../escape", "/abs", "a/../../b", "a\\..\\b"] {
        assert!(
            matches!(
                store.put(p, stream_of(b"x".to_vec(), 1)).await,
                Err(ArtifactError::InvalidPath { .. })
            ),
            "unsafe path {p} must be refused"
        );
        assert!(matches!(
            store.get(p).await,
            Err(ArtifactError::InvalidPath { .. })
        ));
    }
}

pub async fn large_streaming(store: &dyn ArtifactStore, root: &str) {
    let data = pattern(20 * 1024 * 1024 + 7, 3);
    let p = format!("{root}/large.bin");
    let n = store
        .put(&p, stream_of(data.clone(), 1 << 20))
        .await
        .expect("large put");
    assert_eq!(n, data.len() as u64);
    assert!(
        read_all(store, &p).await == data,
        "20 MiB round trip is byte-exact"
    );
}

pub async fn multipart_roundtrip(store: &dyn ArtifactStore, root: &str) {
    let p = format!("{root}/mpu/big.bin");
    let parts = [pattern(6 << 20, 1), pattern(6 << 20, 2), vec![42u8]];
    let id = store.create_multipart(&p).await.expect("create upload");
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate().rev() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let etag = store
            .upload_part(&p, &id, n, stream_of(data.clone(), 1 << 20))
            .await
            .expect("upload part");
        done.push(CompletedPart {
            part_number: n,
            etag,
        });
    }
    let listing = store.list("").await.expect("list root");
    assert!(
        listing.iter().all(|f| !f.path.starts_with(".sextant")),
        "staged parts never show: {listing:?}"
    );
    store
        .complete_multipart(&p, &id, &done)
        .await
        .expect("complete");
    assert!(
        read_all(store, &p).await == parts.concat(),
        "parts assemble in part-number order"
    );
    assert!(
        matches!(
            store.upload_part(&p, &id, 1, stream_of(vec![1], 1)).await,
            Err(ArtifactError::InvalidUpload { .. })
        ),
        "a completed upload takes no more parts"
    );

    let id2 = store.create_multipart(&p).await.expect("create upload");
    store
        .upload_part(&p, &id2, 1, stream_of(vec![9; 10], 4))
        .await
        .expect("part");
    assert!(
        matches!(
            store
                .complete_multipart(
                    &p,
                    &id2,
                    &[CompletedPart {
                        part_number: 2,
                        etag: String::new()
                    }]
                )
                .await,
            Err(ArtifactError::InvalidUpload { .. })
        ),
        "completing with a missing part fails"
    );
    store.abort_multipart(&p, &id2).await.expect("abort");
    assert!(
        read_all(store, &p).await == parts.concat(),
        "an aborted upload leaves the object alone"
    );
    let unknown = "0123456789abcdef0123456789abcdef";
    assert!(matches!(
        store
            .upload_part(&p, unknown, 1, stream_of(vec![1], 1))
            .await,
        Err(ArtifactError::InvalidUpload { .. })
    ));
    assert!(matches!(
        store
            .upload_part(&p, "not-an-id", 1, stream_of(vec![1], 1))
            .await,
        Err(ArtifactError::InvalidUpload { .. })
    ));
}
