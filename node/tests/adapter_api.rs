//! The node API chain adapters use: an item and the adapter's cursor are written in one
//! atomic batch, so after any crash the cursor covers exactly the events the node holds.

mod support;

use aolink_node::ans104::{DataItem, Ed25519Signer};
use aolink_node::scheduler::Outcome;
use support::*;

#[tokio::test]
async fn the_cursor_is_written_with_the_item_and_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_default(dir.path());
    let signer = Ed25519Signer::generate();
    let module = module_item(
        &signer,
        b"\0asm\x01\0\0\0".to_vec(),
        "wasm32-unknown-emscripten4",
    );
    let process = process_item(&signer, &node, &module, &[]);
    node.submit(process.to_bytes()).await.unwrap();

    let event = message(&signer, &process, "Chain-Event", "{}");
    let cursor = |n: u8| vec![("cursor/test".to_string(), vec![n; 8])];
    let outcome = node
        .submit_with_meta(event.to_bytes(), cursor(1))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Scheduled(_)));
    assert_eq!(node.store().meta("cursor/test").unwrap(), Some(vec![1; 8]));

    // A re-sent item (the adapter crashed before it saw the answer) still moves the cursor.
    let outcome = node
        .submit_with_meta(event.to_bytes(), cursor(2))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::AlreadyScheduled(_)));
    assert_eq!(node.store().meta("cursor/test").unwrap(), Some(vec![2; 8]));

    // A rejected item writes nothing, the cursor included.
    let mut bad = message(&signer, &process, "Chain-Event", "{}").to_bytes();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let before = node.store().counts();
    assert!(node.submit_with_meta(bad, cursor(3)).await.is_err());
    assert_eq!(node.store().counts(), before);
    assert_eq!(node.store().meta("cursor/test").unwrap(), Some(vec![2; 8]));

    let unknown = DataItem::sign(
        &signer,
        Some([9; 32]),
        None,
        tags(&[("Data-Protocol", "ao"), ("Type", "Message")]),
        Vec::new(),
    )
    .unwrap();
    assert!(
        node.submit_with_meta(unknown.to_bytes(), cursor(4))
            .await
            .is_err()
    );
    assert_eq!(node.store().meta("cursor/test").unwrap(), Some(vec![2; 8]));
}
