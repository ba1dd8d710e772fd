//! Signed ANS-104 items as tests need them.

use aolink_primitives::ans104::{DataItem, Ed25519Signer, Signer, Tag};
use aolink_primitives::ao::{AoTags, ItemType};

/// Tags from name/value pairs.
pub fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs.iter().map(|(n, v)| Tag::new(*n, *v)).collect()
}

/// An AO item (`Data-Protocol: ao`, `Variant: ao.TN.1`, then `tags`) without data.
pub fn item(signer: &Ed25519Signer, target: Option<[u8; 32]>, tags: &[(&str, &str)]) -> DataItem {
    item_with_data(signer, target, tags, b"")
}

/// An AO item with `data`.
pub fn item_with_data(
    signer: &Ed25519Signer,
    target: Option<[u8; 32]>,
    extra: &[(&str, &str)],
    data: &[u8],
) -> DataItem {
    let mut t = AoTags::default().protocol().variant().build();
    t.extend(tags(extra));
    DataItem::sign(signer, target, None, t, data.to_vec()).unwrap()
}

/// A mirror process of `contract` on chain 31337, fed by `adapter`.
pub fn mirror_item(owner: &Ed25519Signer, adapter: &Ed25519Signer, contract: &str) -> DataItem {
    mirror_item_on(owner, adapter, "31337", contract)
}

/// A mirror process of `contract` on chain `chain_id`, fed by `adapter`.
pub fn mirror_item_on(
    owner: &Ed25519Signer,
    adapter: &Ed25519Signer,
    chain_id: &str,
    contract: &str,
) -> DataItem {
    item(
        owner,
        None,
        &[
            ("Type", "Process"),
            ("Device", "mirror@1.0"),
            ("Chain-Id", chain_id),
            ("Contract", contract),
            ("Authority", &adapter.address()),
        ],
    )
}

/// A module item for `wasm` in `format` (a `Module-Format`), with JSON-1 encodings.
pub fn module_item(signer: &Ed25519Signer, wasm: Vec<u8>, format: &str) -> DataItem {
    DataItem::sign(
        signer,
        None,
        None,
        AoTags::new(ItemType::Module)
            .with("Module-Format", format)
            .with("Input-Encoding", "JSON-1")
            .with("Output-Encoding", "JSON-1")
            .with("Content-Type", "application/wasm")
            .build(),
        wasm,
    )
    .unwrap()
}
