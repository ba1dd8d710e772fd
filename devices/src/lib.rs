//! Native devices: deterministic state machines that run as ordinary processes of the node.
//!
//! A process names its device with a `Device` tag at spawn (`Device: mirror@1.0`). It is then
//! scheduled, evaluated, checkpointed and queried exactly like a WASM process: the evaluator
//! feeds it the scheduled messages in slot order, stores each [`Reply`] as the slot's result,
//! pushes the reply's outbox through the messenger, and checkpoints [`Device::save`]'s bytes.
//!
//! A device sees nothing but its state and the message: time is the scheduled `Timestamp`,
//! never the clock; there is no network and no randomness. A reply with an `error` has its
//! state changes discarded by the evaluator (as a WASM result with `Error` does), so a device
//! may bail out half way through a message.
//!
//! This crate depends on `aolink-primitives` and arithmetic only, so the rule above is kept by
//! Cargo: there is no runtime, clock or socket to reach.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bridge;
pub mod mint;
pub mod mirror;
pub mod split;

use serde_json::{Value, json};

/// A decimal string's number (token amounts, prices: decimal strings everywhere), or `None`
/// when the text is absent or not plain decimal digits.
pub(crate) fn decimal(text: Option<&str>) -> Option<num_bigint::BigUint> {
    text.filter(|t| aolink_primitives::chain::is_decimal(t))
        .and_then(|t| num_bigint::BigUint::parse_bytes(t.as_bytes(), 10))
}

/// The device names this node runs natively.
pub const DEVICES: [&str; 3] = [mirror::NAME, mirror::NAME_1_0, bridge::NAME];

/// Errors creating or restoring a device.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The `Device` tag names no native device.
    #[error("unknown device {0:?} (this node runs {DEVICES:?})")]
    Unknown(String),
    /// A spawn tag is missing or malformed; `tag` names it.
    #[error("tag {tag}: {reason}")]
    Config {
        /// The tag at fault (e.g. `Chain-Id`).
        tag: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Checkpointed state does not decode.
    #[error("device state does not decode: {0}")]
    State(String),
}

impl DeviceError {
    /// A spawn tag `tag` that is missing or malformed, and why.
    pub fn config(tag: &str, reason: impl Into<String>) -> Self {
        DeviceError::Config {
            tag: tag.into(),
            reason: reason.into(),
        }
    }
}

/// What a device knows about its own process, from the process item (fixed at spawn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEnv {
    /// The process id (base64url).
    pub process_id: String,
    /// The address that signed the process item.
    pub owner: String,
    /// The process item's tags, in order (duplicates kept: several `Authority` tags are usual).
    pub tags: Vec<(String, String)>,
}

impl DeviceEnv {
    /// The first tag called `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every tag called `name`, in order.
    pub fn tags_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tags
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required tag, or a [`DeviceError::Config`] naming it.
    pub fn require(&self, name: &str) -> Result<&str, DeviceError> {
        self.tag(name).ok_or_else(|| DeviceError::Config {
            tag: name.to_string(),
            reason: "missing".into(),
        })
    }
}

/// One scheduled message as a device sees it (the fields of the `msg` a WASM module gets).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The message id; absent for cron ticks and dry-runs that give none.
    pub id: Option<String>,
    /// Who sent it: the signer, or the sending process for process-to-process messages.
    pub from: String,
    /// The signer of the data item.
    pub owner: String,
    /// Tags in order (`From`/`Owner` tags already removed, as for WASM processes).
    pub tags: Vec<(String, String)>,
    /// The data, as text.
    pub data: String,
    /// The scheduled time in ms: the only clock a device has.
    pub timestamp: i64,
    /// The scheduled block height.
    pub block_height: u64,
    /// The slot (nonce); absent for cron ticks and dry-runs.
    pub slot: Option<u64>,
    /// True for dry-runs: the evaluator never keeps their state changes.
    pub read_only: bool,
}

impl Message {
    /// The first tag called `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Action` tag, or "".
    pub fn action(&self) -> &str {
        self.tag("Action").unwrap_or("")
    }

    /// Reads the `msg` JSON object the evaluator builds for a slot or a dry-run.
    pub fn from_json(msg: &Value) -> Message {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let int = |v: &Value| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        };
        Message {
            id: msg["Id"].as_str().map(str::to_string),
            from: text(&msg["From"]),
            owner: text(&msg["Owner"]),
            tags: msg["Tags"]
                .as_array()
                .map(|tags| {
                    tags.iter()
                        .map(|t| (text(&t["name"]), text(&t["value"])))
                        .collect()
                })
                .unwrap_or_default(),
            data: text(&msg["Data"]),
            timestamp: int(&msg["Timestamp"]).unwrap_or(0),
            block_height: int(&msg["Block-Height"])
                .and_then(|h| u64::try_from(h).ok())
                .unwrap_or(0),
            slot: int(&msg["Nonce"]).and_then(|n| u64::try_from(n).ok()),
            read_only: msg["Read-Only"].as_bool().unwrap_or(false),
        }
    }
}

/// A message a device sends. The messenger signs it with the node key and schedules it on
/// `target` (adding `From-Process`, `Pushed-For`...). Items are signed deterministically, so
/// two identical outbox entries would be one item: every entry must carry a `Reference` tag
/// unique within the process (use [`Outbox`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMessage {
    /// The target process id.
    pub target: String,
    /// Tags, in order.
    pub tags: Vec<(String, String)>,
    /// The data.
    pub data: String,
}

/// A device's answer to one message: what the CU stores as the slot's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// `Output`: text or JSON, shown to clients.
    pub output: Value,
    /// Messages to send.
    pub messages: Vec<OutMessage>,
    /// `Error`: when set, the evaluator discards this message's state changes.
    pub error: Option<String>,
}

impl Reply {
    /// A reply carrying only an error.
    pub fn error(reason: impl Into<String>) -> Reply {
        Reply {
            error: Some(reason.into()),
            ..Reply::default()
        }
    }

    /// The result object in the CU's shape (`Output`, `Messages`, `Spawns`, `Assignments`,
    /// `Error` when there is one).
    pub fn to_result(&self) -> Value {
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|m| {
                json!({
                    "Target": m.target,
                    "Tags": m.tags.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                    "Data": m.data,
                })
            })
            .collect();
        let mut result = json!({
            "Output": self.output,
            "Messages": messages,
            "Spawns": [],
            "Assignments": [],
        });
        if let Some(error) = &self.error {
            result["Error"] = json!(error);
        }
        result
    }
}

/// Numbers outbox messages so that each carries a unique `Reference`. Keep it in the device's
/// state: the counter is part of what a checkpoint restores.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outbox {
    /// References handed out so far.
    pub sent: u64,
}

impl Outbox {
    /// An outbox message to `target` with `tags` (a `Reference` tag is appended) and `data`.
    pub fn message(
        &mut self,
        target: &str,
        mut tags: Vec<(String, String)>,
        data: String,
    ) -> OutMessage {
        self.sent = self.sent.saturating_add(1);
        tags.push(("Reference".into(), self.sent.to_string()));
        OutMessage {
            target: target.to_string(),
            tags,
            data,
        }
    }
}

/// A native device: a pure state machine over scheduled messages.
pub trait Device: Send {
    /// Handles one message. The reply depends only on the state and `msg`.
    fn handle(&mut self, msg: &Message) -> Reply;

    /// The state as canonical bytes: equal states give equal bytes (so checkpoints and replays
    /// can be compared byte for byte), and [`restore`] reads them back.
    fn save(&self) -> Vec<u8>;
}

/// A new device `name` for the process described by `env`; its spawn tags are checked here,
/// so a bad configuration is refused at spawn with the tag named.
pub fn create(name: &str, env: &DeviceEnv) -> Result<Box<dyn Device>, DeviceError> {
    match name {
        mirror::NAME => Ok(Box::new(mirror::Mirror::new(env)?)),
        mirror::NAME_1_0 => Ok(Box::new(mirror::Mirror::new_1_0(env)?)),
        bridge::NAME => Ok(Box::new(bridge::Bridge::new(env)?)),
        other => Err(DeviceError::Unknown(other.to_string())),
    }
}

/// Device `name` restored from [`Device::save`] bytes.
pub fn restore(name: &str, env: &DeviceEnv, state: &[u8]) -> Result<Box<dyn Device>, DeviceError> {
    match name {
        mirror::NAME => Ok(Box::new(mirror::Mirror::restore(env, state)?)),
        mirror::NAME_1_0 => Ok(Box::new(mirror::Mirror::restore_1_0(env, state)?)),
        bridge::NAME => Ok(Box::new(bridge::Bridge::restore(env, state)?)),
        other => Err(DeviceError::Unknown(other.to_string())),
    }
}

/// Whether a `Device` tag names one of this node's native devices (anything else, including
/// HyperBEAM's `process@1.0`, runs its `Module` under WASM).
pub fn is_native(name: &str) -> bool {
    DEVICES.contains(&name)
}
