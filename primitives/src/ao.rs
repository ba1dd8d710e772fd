//! The AO vocabulary: the protocol tags every AO item carries, built in one place, the
//! assignment an SU signs for each slot, and the block clock.
//!
//! Tag order is part of an item's bytes and so of its id: a node that replays its schedule
//! re-signs the same messages and must reach the same ids. [`AoTags`] therefore appends in the
//! order it is told, and each builder below keeps the order the node has always written.

use crate::ans104::{DataItem, Tag};

/// `Data-Protocol`: every AO item carries `ao`.
pub const DATA_PROTOCOL: &str = "ao";
/// `Variant`: the AO testnet variant every client speaks.
pub const VARIANT: &str = "ao.TN.1";

/// Arweave's target block time: the node's local block height advances once per this many ms.
pub const BLOCK_TIME_MS: i64 = 120_000;
/// Where the node's local block height starts: a height of the real Arweave chain at which the
/// CU verifies hash chains (≥ 1,440,000), so processes scheduled here are checked like mainnet's.
pub const DEFAULT_GENESIS_HEIGHT: u64 = 1_500_000;

/// The `Type` tag of an AO item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// A message to a process.
    Message,
    /// A process definition (a spawn).
    Process,
    /// An SU's assignment of a message to a slot.
    Assignment,
    /// A WASM module.
    Module,
    /// An SU's announcement of its URL.
    SchedulerLocation,
}

impl ItemType {
    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Message => "Message",
            ItemType::Process => "Process",
            ItemType::Assignment => "Assignment",
            ItemType::Module => "Module",
            ItemType::SchedulerLocation => "Scheduler-Location",
        }
    }

    /// The type a `Type` tag value names.
    pub fn parse(value: &str) -> Option<ItemType> {
        Some(match value {
            "Message" => ItemType::Message,
            "Process" => ItemType::Process,
            "Assignment" => ItemType::Assignment,
            "Module" => ItemType::Module,
            "Scheduler-Location" => ItemType::SchedulerLocation,
            _ => return None,
        })
    }
}

/// An ordered tag list under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AoTags(Vec<Tag>);

impl AoTags {
    /// `Data-Protocol`, `Variant` and `Type`, in that order: the head of a fresh AO item.
    pub fn new(ty: ItemType) -> AoTags {
        AoTags(Vec::new()).protocol().variant().kind(ty)
    }

    /// A message: [`AoTags::new`] of [`ItemType::Message`].
    pub fn message() -> AoTags {
        AoTags::new(ItemType::Message)
    }

    /// A process: [`AoTags::new`] of [`ItemType::Process`].
    pub fn process() -> AoTags {
        AoTags::new(ItemType::Process)
    }

    /// Starts from `tags` as they are (a client's tags being forwarded).
    pub fn from_tags(tags: Vec<Tag>) -> AoTags {
        AoTags(tags)
    }

    /// Appends `name: value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> AoTags {
        self.0.push(Tag::new(name, value));
        self
    }

    /// Appends `name: value` for each value.
    pub fn with_each<I, V>(mut self, name: &str, values: I) -> AoTags
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.0.extend(values.into_iter().map(|v| Tag::new(name, v)));
        self
    }

    /// Appends `name: value` unless a tag called `name` is already there.
    pub fn with_default(self, name: &str, value: impl Into<String>) -> AoTags {
        if self.has(name) {
            self
        } else {
            self.with(name, value)
        }
    }

    /// Appends `Data-Protocol: ao`.
    pub fn protocol(self) -> AoTags {
        self.with("Data-Protocol", DATA_PROTOCOL)
    }

    /// Appends `Variant: ao.TN.1`.
    pub fn variant(self) -> AoTags {
        self.with("Variant", VARIANT)
    }

    /// Appends `Variant: ao.TN.1` unless the tags name a variant already.
    pub fn default_variant(self) -> AoTags {
        self.with_default("Variant", VARIANT)
    }

    /// Appends `Type`.
    pub fn kind(self, ty: ItemType) -> AoTags {
        self.with("Type", ty.as_str())
    }

    /// Drops every tag whose name is in `names` (what the node sets itself when forwarding).
    pub fn without(mut self, names: &[&str]) -> AoTags {
        self.0.retain(|t| !names.contains(&t.name.as_str()));
        self
    }

    /// Whether a tag called `name` is there.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|t| t.name == name)
    }

    /// Whether `name: value` is there.
    pub fn has_value(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|t| t.name == name && t.value == value)
    }

    /// The tags, in order.
    pub fn build(self) -> Vec<Tag> {
        self.0
    }
}

/// Whether `tags` mark an AO item (`Data-Protocol: ao`).
pub fn is_ao(tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.name == "Data-Protocol" && t.value == DATA_PROTOCOL)
}

/// An assignment whose tags do not read back; `tag` names the one at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("assignment {id} has no valid {tag} tag")]
pub struct AssignmentError {
    /// The assignment item's id.
    pub id: String,
    /// The missing or malformed tag.
    pub tag: &'static str,
}

/// One slot of a process's schedule, as read from its signed assignment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    /// The process id.
    pub process: String,
    /// The slot (`Nonce`).
    pub slot: u64,
    /// `Timestamp` in ms.
    pub timestamp: i64,
    /// `Block-Height`.
    pub block_height: u64,
    /// `Hash-Chain`.
    pub hash_chain: String,
    /// The assignment's own id.
    pub id: String,
    /// The scheduled message's id (the process id at slot 0).
    pub message: String,
}

impl Assignment {
    /// Reads an assignment's fields back from its tags.
    pub fn from_item(item: &DataItem) -> Result<Assignment, AssignmentError> {
        let bad = |tag: &'static str| AssignmentError {
            id: item.id_b64(),
            tag,
        };
        let tag = |name: &'static str| item.tag(name).ok_or_else(|| bad(name));
        let number = |name: &'static str| -> Result<u64, AssignmentError> {
            tag(name)?.parse::<u64>().map_err(|_| bad(name))
        };
        Ok(Assignment {
            process: tag("Process")?.to_string(),
            slot: number("Nonce")?,
            timestamp: tag("Timestamp")?
                .parse::<i64>()
                .map_err(|_| bad("Timestamp"))?,
            block_height: number("Block-Height")?,
            hash_chain: tag("Hash-Chain")?.to_string(),
            id: item.id_b64(),
            message: tag("Message")?.to_string(),
        })
    }

    /// The tags of the assignment item for these fields (its own `id` is not a tag), with the
    /// processes it `exclude`s, in the order the reference SU writes them.
    pub fn tags(&self, exclude: &[String]) -> Vec<Tag> {
        AoTags::default()
            .with("Process", self.process.clone())
            .with("Epoch", "0")
            .with("Nonce", self.slot.to_string())
            .with("Hash-Chain", self.hash_chain.clone())
            .with("Block-Height", format!("{:012}", self.block_height))
            .with("Timestamp", self.timestamp.to_string())
            .protocol()
            .kind(ItemType::Assignment)
            .variant()
            .with("Message", self.message.clone())
            .with_each("Exclude", exclude.iter().cloned())
            .build()
    }
}

/// The local block height at `timestamp` (ms) for a node whose genesis was at `genesis_ms`
/// with height `genesis_height`: one block per [`BLOCK_TIME_MS`].
pub fn height_at(genesis_ms: i64, genesis_height: u64, timestamp: i64) -> u64 {
    let elapsed = timestamp.saturating_sub(genesis_ms).max(0) / BLOCK_TIME_MS;
    genesis_height.saturating_add(u64::try_from(elapsed).unwrap_or(0))
}

/// The timestamp (ms) at which block `height` starts on that clock.
pub fn block_start_ms(genesis_ms: i64, genesis_height: u64, height: u64) -> i64 {
    let blocks = i64::try_from(height.saturating_sub(genesis_height)).unwrap_or(i64::MAX);
    genesis_ms.saturating_add(blocks.saturating_mul(BLOCK_TIME_MS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ans104::Ed25519Signer;

    #[test]
    fn a_fresh_item_starts_with_protocol_variant_and_type() {
        let tags = AoTags::message().with("Action", "Eval").build();
        let names: Vec<_> = tags
            .iter()
            .map(|t| (t.name.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("Data-Protocol", "ao"),
                ("Variant", "ao.TN.1"),
                ("Type", "Message"),
                ("Action", "Eval")
            ]
        );
        assert!(is_ao(&tags));
        assert!(!is_ao(&tags[1..]));
    }

    #[test]
    fn forwarded_tags_keep_their_order_and_lose_what_the_node_sets() {
        let original = vec![
            Tag::new("Type", "Process"),
            Tag::new("Action", "Ping"),
            Tag::new("Variant", "ao.TN.2"),
        ];
        let tags = AoTags::from_tags(original)
            .without(&["Type"])
            .protocol()
            .default_variant()
            .build();
        let names: Vec<_> = tags.iter().map(|t| t.value.as_str()).collect();
        assert_eq!(names, ["Ping", "ao.TN.2", "ao"]);
    }

    #[test]
    fn an_assignment_reads_back_from_the_tags_it_writes() {
        let a = Assignment {
            process: "P".repeat(43),
            slot: 7,
            timestamp: 1_700_000_000_000,
            block_height: 1_500_003,
            hash_chain: "H".repeat(43),
            id: String::new(),
            message: "M".repeat(43),
        };
        let tags = a.tags(&["X".into()]);
        assert_eq!(tags[4].value, "000001500003");
        assert_eq!(tags.last().map(|t| t.name.as_str()), Some("Exclude"));
        let item =
            DataItem::sign(&Ed25519Signer::generate(), None, None, tags, Vec::new()).unwrap();
        let back = Assignment::from_item(&item).unwrap();
        assert_eq!(
            back,
            Assignment {
                id: item.id_b64(),
                ..a
            }
        );
        let broken = DataItem::sign(
            &Ed25519Signer::generate(),
            None,
            None,
            vec![Tag::new("Process", "p"), Tag::new("Nonce", "x")],
            Vec::new(),
        )
        .unwrap();
        assert_eq!(Assignment::from_item(&broken).unwrap_err().tag, "Nonce");
    }

    #[test]
    fn the_block_clock_advances_once_per_block_time() {
        assert_eq!(height_at(1000, 10, 1000 + BLOCK_TIME_MS - 1), 10);
        assert_eq!(height_at(1000, 10, 1000 + BLOCK_TIME_MS), 11);
        assert_eq!(height_at(1000, 10, 0), 10);
        assert_eq!(block_start_ms(1000, 10, 12), 1000 + 2 * BLOCK_TIME_MS);
    }
}
