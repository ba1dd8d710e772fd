//! The subset of the Arweave gateway GraphQL that AO clients query, answered from the store.
//!
//! `transactions` serves items this node holds, looked up by `ids`, plus the node's own
//! `Scheduler-Location` record (found by `owners`), filtered by `tags` and `recipients`:
//! enough for scheduler-utils' `locate()` and aoconnect's checks. `blocks` serves the node's
//! local chain of heights (one per 2 minutes from the data directory's genesis). A node is not
//! an Arweave gateway: queries by owner or tag alone find only what the node itself signs.

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ID, InputObject, Object, Schema, SimpleObject,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;

use super::{ApiError, AppState};
use crate::ans104::{DataItem, Tag, b64url_decode_32, b64url_encode};
use aolink_primitives::ao::BLOCK_TIME_MS;

/// Most results a page returns (Arweave gateways cap `first` at 100).
const MAX_FIRST: usize = 100;

pub(crate) type GatewaySchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub(crate) fn schema(state: AppState) -> GatewaySchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(state)
        .limit_depth(16)
        .finish()
}

/// `POST /graphql`.
pub(crate) async fn handle(
    State(schema): State<GatewaySchema>,
    body: Bytes,
) -> Result<Json<async_graphql::Response>, ApiError> {
    let request: async_graphql::Request = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("body", format!("body: not a GraphQL request: {e}")))?;
    Ok(Json(schema.execute(request).await))
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum SortOrder {
    HeightAsc,
    HeightDesc,
}

#[derive(InputObject)]
pub(crate) struct TagFilter {
    name: String,
    values: Vec<String>,
}

#[derive(InputObject)]
pub(crate) struct BlockFilter {
    min: Option<i64>,
    max: Option<i64>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Owner {
    address: String,
    key: String,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Amount {
    winston: String,
    ar: String,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct MetaData {
    size: String,
    #[graphql(name = "type")]
    content_type: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Block {
    id: ID,
    timestamp: i64,
    height: i64,
    previous: ID,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Parent {
    id: ID,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Transaction {
    id: ID,
    anchor: String,
    signature: String,
    recipient: String,
    owner: Owner,
    fee: Amount,
    quantity: Amount,
    data: MetaData,
    tags: Vec<GqlTag>,
    block: Option<Block>,
    parent: Option<Parent>,
    bundled_in: Option<Parent>,
}

#[derive(SimpleObject)]
pub(crate) struct PageInfo {
    has_next_page: bool,
}

#[derive(SimpleObject)]
pub(crate) struct TransactionEdge {
    cursor: String,
    node: Transaction,
}

#[derive(SimpleObject)]
pub(crate) struct TransactionConnection {
    page_info: PageInfo,
    edges: Vec<TransactionEdge>,
}

#[derive(SimpleObject)]
pub(crate) struct BlockEdge {
    cursor: String,
    node: Block,
}

#[derive(SimpleObject)]
pub(crate) struct BlockConnection {
    page_info: PageInfo,
    edges: Vec<BlockEdge>,
}

/// A tag as GraphQL serves it (the item type lives in `aolink-primitives`, which knows no
/// GraphQL).
#[derive(Clone)]
pub(crate) struct GqlTag(Tag);

#[async_graphql::Object(name = "Tag")]
impl GqlTag {
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn value(&self) -> &str {
        &self.0.value
    }
}

pub(crate) struct Query;

#[Object]
impl Query {
    /// Items this node holds or signs, filtered as an Arweave gateway filters them.
    #[allow(clippy::too_many_arguments)]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        owners: Option<Vec<String>>,
        recipients: Option<Vec<String>>,
        tags: Option<Vec<TagFilter>>,
        first: Option<i32>,
        after: Option<String>,
        sort: Option<SortOrder>,
    ) -> async_graphql::Result<TransactionConnection> {
        let state = ctx.data::<AppState>()?;
        let _ = sort; // every candidate set here is tiny and height-ordered already
        let mut candidates: Vec<Transaction> = Vec::new();
        for id in ids.iter().flatten() {
            let Ok(raw_id) = b64url_decode_32(id, "ids") else {
                continue;
            };
            if let Some(raw) = state.node.store().item(&raw_id)? {
                candidates.push(transaction(state, &DataItem::parse(&raw)?)?);
            }
        }
        if ids.is_none() {
            candidates.push(transaction(state, &state.scheduler_location)?);
        }
        let tags = tags.unwrap_or_default();
        let matches = |tx: &Transaction| {
            owners
                .as_ref()
                .is_none_or(|o| o.contains(&tx.owner.address))
                && recipients
                    .as_ref()
                    .is_none_or(|r| r.contains(&tx.recipient))
                && tags.iter().all(|f| {
                    tx.tags
                        .iter()
                        .any(|t| t.0.name == f.name && f.values.contains(&t.0.value))
                })
        };
        let first = first
            .and_then(|f| usize::try_from(f).ok())
            .unwrap_or(10)
            .min(MAX_FIRST);
        let mut edges: Vec<TransactionEdge> = candidates
            .into_iter()
            .filter(matches)
            .skip_while(|tx| after.as_ref().is_some_and(|a| tx.id.as_str() != a))
            .skip(usize::from(after.is_some()))
            .map(|node| TransactionEdge {
                cursor: node.id.to_string(),
                node,
            })
            .collect();
        let has_next_page = edges.len() > first;
        edges.truncate(first);
        Ok(TransactionConnection {
            page_info: PageInfo { has_next_page },
            edges,
        })
    }

    /// One item by id.
    async fn transaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Transaction>> {
        let state = ctx.data::<AppState>()?;
        let raw_id = b64url_decode_32(&id, "id")?;
        match state.node.store().item(&raw_id)? {
            Some(raw) => Ok(Some(transaction(state, &DataItem::parse(&raw)?)?)),
            None => Ok(None),
        }
    }

    /// The node's local blocks (one per two minutes since the data directory was created).
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        height: Option<BlockFilter>,
        first: Option<i32>,
        sort: Option<SortOrder>,
    ) -> async_graphql::Result<BlockConnection> {
        let state = ctx.data::<AppState>()?;
        let genesis = local_block(state, 0)?;
        let (_, current) = state.node.scheduler().now();
        let current = i64::try_from(current)?;
        let min = height
            .as_ref()
            .and_then(|h| h.min)
            .unwrap_or(genesis.height)
            .max(genesis.height);
        let max = height
            .as_ref()
            .and_then(|h| h.max)
            .unwrap_or(current)
            .min(current);
        let first = first.map_or(10, i64::from).clamp(0, MAX_FIRST as i64);
        let heights: Vec<i64> = if sort == Some(SortOrder::HeightAsc) {
            (min..=max).take(first as usize + 1).collect()
        } else {
            (min..=max).rev().take(first as usize + 1).collect()
        };
        let has_next_page = heights.len() as i64 > first;
        let edges = heights
            .into_iter()
            .take(first as usize)
            .map(|h| {
                let node = local_block(state, h - genesis.height)?;
                Ok(BlockEdge {
                    cursor: h.to_string(),
                    node,
                })
            })
            .collect::<async_graphql::Result<Vec<_>>>()?;
        Ok(BlockConnection {
            page_info: PageInfo { has_next_page },
            edges,
        })
    }
}

/// The `offset`-th local block after genesis.
fn local_block(state: &AppState, offset: i64) -> async_graphql::Result<Block> {
    let meta = state.node.scheduler().meta();
    let height = i64::try_from(meta.genesis_height)?.saturating_add(offset);
    let block_id = |h: i64| {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(state.node.address().as_bytes());
        hasher.update(h.to_be_bytes());
        ID(b64url_encode(&hasher.finalize()))
    };
    Ok(Block {
        id: block_id(height),
        timestamp: (meta
            .genesis_ms
            .saturating_add(offset.saturating_mul(BLOCK_TIME_MS)))
            / 1000,
        height,
        previous: block_id(height.saturating_sub(1)),
    })
}

fn transaction(state: &AppState, item: &DataItem) -> async_graphql::Result<Transaction> {
    let store = state.node.store();
    let id = item.id();
    // The block an item is in: the local block of its first slot, if it is scheduled.
    let block = match store.placements_of(&id)?.first() {
        Some((process, slot)) => match store.entry(process, *slot)? {
            Some(entry) => {
                let meta = state.node.scheduler().meta();
                let offset = entry.timestamp.saturating_sub(meta.genesis_ms).max(0) / BLOCK_TIME_MS;
                Some(local_block(state, offset)?)
            }
            None => None,
        },
        None => None,
    };
    let zero = Amount {
        winston: "0".into(),
        ar: "0.000000000000".into(),
    };
    Ok(Transaction {
        id: ID(item.id_b64()),
        anchor: item.anchor.map(|a| b64url_encode(&a)).unwrap_or_default(),
        signature: b64url_encode(&item.signature),
        recipient: item.target.map(|t| b64url_encode(&t)).unwrap_or_default(),
        owner: Owner {
            address: item.owner_address(),
            key: b64url_encode(&item.owner),
        },
        fee: zero.clone(),
        quantity: zero,
        data: MetaData {
            size: item.data.len().to_string(),
            content_type: item.tag("Content-Type").map(str::to_string),
        },
        tags: item.tags.iter().cloned().map(GqlTag).collect(),
        block,
        parent: None,
        bundled_in: None,
    })
}
