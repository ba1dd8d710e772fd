//! `mirror@1.1` (and `mirror@1.0`, which takes no answers): one process per watched contract. It takes the chain adapter's event batches,
//! keeps each event once, maintains the contract view the events imply, and forwards events
//! to the processes subscribed to them. Message formats: `docs/devices.md`.
//!
//! Spawn tags:
//! - `Chain-Id` (required): a decimal EVM chain id, or `solana:<cluster>`.
//! - `Contract` (required): the contract address (`0x` + 40 hex for EVM chains, compared
//!   case-insensitively; kept as given for Solana).
//! - `Authority` (repeatable, at least one): the adapter addresses allowed to send
//!   `Chain-Event` and `Chain-Reorg`.
//! - `Subscribe` (repeatable): `<Event>:<process-id>`, or `*:<process-id>` for every event.
//! - `Reorg-Window` (default 256): blocks behind the head whose events are kept in full so a
//!   reorg can retract them; a reorg reaching further back is refused. Event identities are
//!   kept for the window only: an event from before it is final, and a repeat of it is
//!   refused as a replay (`stale`), so the state does not grow with the chain's history.
//!
//! Actions: `Chain-Event`, `Chain-Reorg` (authorities only); `Subscribe` / `Unsubscribe` with
//! an `Event` tag (a process subscribes itself; the owner or an authority may name another
//! with a `Subscriber` tag); `Info` and `State` (read-only, also in dry-runs).
//!
//! A gateway's `RequestSent` event (a dApp's `send`) is also delivered as a call: a message to
//! the process it names, with the event's action as `Action`, its data as the message data and
//! `Chain-Id`, `Gateway`, `Sender`, `Request-Id` and `Chain-Tx` tags. A call cannot be taken
//! back once delivered, so gateways are watched with a finality policy, not at the head.
//!
//! From version 1.1, the called process answers with a message to the mirror carrying the call's `Reference` as
//! `X-Reference` (what aos's `msg.reply` does). The mirror takes one answer per call, only from
//! the process the call named or from a process of an `Answerer` spawn tag (repeatable), and
//! puts it in its result as an [`Answer`] (`{"answer": …}`) for the node's signers; any other
//! reply (an unknown or already answered reference, another process) is an Error result and
//! changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use aolink_primitives::answer::{Answer, ENVELOPE_TAGS};
use aolink_primitives::chain::{
    ChainEvent, ChainEventBatch, ChainHead, ChainReorg, REQUEST_SENT, Retraction,
};
use num_bigint::BigUint;
use num_traits::Zero;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Device, DeviceEnv, DeviceError, Message, Outbox, Reply, decimal};

/// The device name in a process's `Device` tag.
pub const NAME: &str = aolink_primitives::chain::MIRROR_DEVICE;

/// The first version's name: the same mirror without answers, so that a process spawned with
/// it recomputes to the bytes it always had (its replies to calls are unknown actions there).
pub const NAME_1_0: &str = aolink_primitives::chain::MIRROR_DEVICE_1_0;

const DEFAULT_REORG_WINDOW: u64 = 256;

/// ANS-104's bound on a tag value, in bytes.
const MAX_TAG_VALUE: usize = 3072;

/// ANS-104's bound on a tag name, in bytes.
const MAX_TAG_NAME: usize = 1024;

/// The most tags a caller may set on a call (ANS-104 allows 128 in all; the node sets up to 9).
const MAX_CALLER_TAGS: usize = 64;

/// The prefix of the tags a caller set: the node's own tags never carry it.
const CALLER_TAG_PREFIX: &str = "X-";

#[derive(Clone, Debug)]
struct Config {
    chain_id: String,
    contract: String,
    authorities: BTreeSet<String>,
    owner: String,
    reorg_window: u64,
    /// Whether calls take answers (version 1.1 on).
    answers: bool,
    /// Processes allowed to answer any call, besides the process each call named.
    answerers: BTreeSet<String>,
    /// The mirror's own process id.
    process: String,
}

/// The newest block the adapter has covered. Its own type, not [`ChainHead`]: the field order
/// is part of the checkpointed bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    number: u64,
    hash: String,
}

impl From<ChainHead> for Head {
    fn from(head: ChainHead) -> Head {
        Head {
            number: head.number,
            hash: head.hash,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    head: Option<Head>,
    /// Events held per name.
    counts: BTreeMap<String, u64>,
    /// Bridge view: deposited per `user|pool` and in total per pool (decimal strings).
    deposited: BTreeMap<String, String>,
    pool_totals: BTreeMap<String, String>,
    /// `txHash:logIndex` of the events within the reorg window (those in `recent`); older
    /// events are final, and one arriving again is refused by `floor`, so the set stays the
    /// size of the window however long the mirror runs.
    seen: BTreeSet<String>,
    /// The oldest block whose events are still held in full: an event from before it is
    /// refused as a replay (counted in `stale`).
    #[serde(default)]
    floor: u64,
    /// Events refused because they were older than the reorg window.
    #[serde(default)]
    stale: u64,
    /// Full events of the blocks within the reorg window, by block number.
    recent: BTreeMap<u64, Vec<ChainEvent>>,
    /// Subscribers per event name (`*` = all).
    subscribers: BTreeMap<String, BTreeSet<String>>,
    duplicates: u64,
    /// Gateway calls that named no valid process or action (kept as events, not delivered).
    #[serde(default)]
    refused_calls: u64,
    outbox: Outbox,
    /// Calls forwarded and not yet answered, by the `Reference` each carried. Absent while
    /// empty, which keeps the bytes of every state saved before answers existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pending: BTreeMap<u64, PendingCall>,
    /// Answers taken.
    #[serde(default, skip_serializing_if = "is_zero")]
    answered: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A call awaiting its answer: what the answer's attestation needs of the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingCall {
    /// The process the call named.
    process: String,
    /// Who made the request (the answer's target).
    sender: String,
    request_id: String,
    tx: String,
}

/// The mirror device.
#[derive(Debug)]
pub struct Mirror {
    config: Config,
    state: State,
}

fn is_evm(chain_id: &str) -> bool {
    !chain_id.starts_with("solana:")
}

fn normalise_contract(chain_id: &str, contract: &str) -> Option<String> {
    if !is_evm(chain_id) {
        return (!contract.is_empty()).then(|| contract.to_string());
    }
    let hex = contract.strip_prefix("0x")?;
    (hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("0x{}", hex.to_ascii_lowercase()))
}

fn is_process_id(pid: &str) -> bool {
    pid.len() == 43
        && pid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn parse_subscription(value: &str) -> Option<(String, String)> {
    let (event, pid) = value.rsplit_once(':')?;
    (!event.is_empty() && is_process_id(pid)).then(|| (event.to_string(), pid.to_string()))
}

fn config_of(env: &DeviceEnv) -> Result<Config, DeviceError> {
    let chain_id = env.require("Chain-Id")?.trim().to_string();
    let valid_chain = if let Some(cluster) = chain_id.strip_prefix("solana:") {
        !cluster.is_empty()
    } else {
        chain_id.parse::<u64>().is_ok()
    };
    if !valid_chain {
        return Err(DeviceError::config(
            "Chain-Id",
            format!("{chain_id:?} is neither a decimal EVM chain id nor solana:<cluster>"),
        ));
    }
    let raw = env.require("Contract")?;
    let contract = normalise_contract(&chain_id, raw).ok_or_else(|| {
        DeviceError::config("Contract", format!("{raw:?} is not a contract address"))
    })?;
    let authorities: BTreeSet<String> = env.tags_named("Authority").map(str::to_string).collect();
    if authorities.is_empty() {
        return Err(DeviceError::config(
            "Authority",
            "at least one adapter address must be an Authority",
        ));
    }
    let reorg_window = match env.tag("Reorg-Window") {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|w| *w > 0)
            .ok_or_else(|| {
                DeviceError::config(
                    "Reorg-Window",
                    format!("{v:?} is not a positive number of blocks"),
                )
            })?,
        None => DEFAULT_REORG_WINDOW,
    };
    let mut answerers = BTreeSet::new();
    for value in env.tags_named("Answerer") {
        if !is_process_id(value) {
            return Err(DeviceError::config(
                "Answerer",
                format!("{value:?} is not an AO process id"),
            ));
        }
        answerers.insert(value.to_string());
    }
    Ok(Config {
        chain_id,
        contract,
        authorities,
        owner: env.owner.clone(),
        reorg_window,
        answers: true,
        answerers,
        process: env.process_id.clone(),
    })
}

/// A gateway call as the message it becomes.
struct Call {
    target: String,
    tags: Vec<(String, String)>,
    data: String,
    pending: PendingCall,
}

fn add(map: &mut BTreeMap<String, String>, key: &str, amount: &BigUint, credit: bool) -> bool {
    let current = map
        .get(key)
        .and_then(|v| BigUint::parse_bytes(v.as_bytes(), 10))
        .unwrap_or_default();
    let next = if credit {
        current + amount
    } else if &current >= amount {
        current - amount
    } else {
        return false;
    };
    if next.is_zero() {
        map.remove(key);
    } else {
        map.insert(key.to_string(), next.to_string());
    }
    true
}

impl State {
    /// Applies (or, with `undo`, reverses) an event's effect on the view. False when a
    /// withdrawal exceeds what the view holds (a feed that is not this contract's).
    fn apply(&mut self, event: &ChainEvent, undo: bool) -> bool {
        let name = event.event.as_ref();
        let count = self.counts.entry(name.to_string()).or_insert(0);
        if undo {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.counts.remove(name);
            }
        } else {
            *count += 1;
        }
        let Some(stake) = event.transfer_direction() else {
            return true;
        };
        let Some(amount) = decimal(event.fields.amount()) else {
            return false;
        };
        let pool = event.fields.pool_id().unwrap_or("-").to_string();
        let user = event.fields.user().unwrap_or("").to_ascii_lowercase();
        let credit = stake != undo;
        add(
            &mut self.deposited,
            &format!("{user}|{pool}"),
            &amount,
            credit,
        ) && add(&mut self.pool_totals, &pool, &amount, credit)
    }

    /// `events` grouped by subscriber, each in the order given.
    fn by_subscriber(&self, events: &[ChainEvent]) -> BTreeMap<String, Vec<ChainEvent>> {
        let mut per_subscriber: BTreeMap<String, Vec<ChainEvent>> = BTreeMap::new();
        for event in events {
            for pid in self.subscribers_of(&event.event) {
                per_subscriber.entry(pid).or_default().push(event.clone());
            }
        }
        per_subscriber
    }

    fn subscribers_of(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for key in [name, "*"] {
            if let Some(set) = self.subscribers.get(key) {
                out.extend(set.iter().cloned());
            }
        }
        out
    }
}

impl Mirror {
    /// A new mirror for the process in `env`.
    pub fn new(env: &DeviceEnv) -> Result<Mirror, DeviceError> {
        let config = config_of(env)?;
        let mut state = State::default();
        for value in env.tags_named("Subscribe") {
            let (event, pid) = parse_subscription(value).ok_or_else(|| {
                DeviceError::config(
                    "Subscribe",
                    format!("{value:?} is not <Event>:<process-id> or *:<process-id>"),
                )
            })?;
            state.subscribers.entry(event).or_default().insert(pid);
        }
        Ok(Mirror { config, state })
    }

    /// Restores saved state.
    pub fn restore(env: &DeviceEnv, bytes: &[u8]) -> Result<Mirror, DeviceError> {
        let config = config_of(env)?;
        let state = serde_json::from_slice(bytes).map_err(|e| DeviceError::State(e.to_string()))?;
        Ok(Mirror { config, state })
    }

    /// A new `mirror@1.0`: no answers.
    pub fn new_1_0(env: &DeviceEnv) -> Result<Mirror, DeviceError> {
        let mut mirror = Mirror::new(env)?;
        mirror.config.answers = false;
        Ok(mirror)
    }

    /// Restores a `mirror@1.0`'s saved state.
    pub fn restore_1_0(env: &DeviceEnv, bytes: &[u8]) -> Result<Mirror, DeviceError> {
        let mut mirror = Mirror::restore(env, bytes)?;
        mirror.config.answers = false;
        Ok(mirror)
    }

    fn check_source(&self, msg: &Message) -> Result<(), String> {
        if !self.config.authorities.contains(&msg.from) {
            return Err(format!(
                "{} is not an Authority of this mirror",
                if msg.from.is_empty() {
                    "(no sender)"
                } else {
                    &msg.from
                }
            ));
        }
        let chain = msg.tag("Chain-Id").unwrap_or("");
        if chain != self.config.chain_id {
            return Err(format!(
                "Chain-Id {chain:?} is not this mirror's chain {}",
                self.config.chain_id
            ));
        }
        let contract = msg.tag("Contract").unwrap_or("");
        if normalise_contract(chain, contract).as_deref() != Some(self.config.contract.as_str()) {
            return Err(format!(
                "Contract {contract:?} is not this mirror's contract {}",
                self.config.contract
            ));
        }
        Ok(())
    }

    fn forward_tags(&self, action: &str, msg: &Message) -> Vec<(String, String)> {
        let mut tags = vec![
            ("Action".to_string(), action.to_string()),
            ("Chain-Id".to_string(), self.config.chain_id.clone()),
            ("Contract".to_string(), self.config.contract.clone()),
        ];
        if let Some(slot) = msg.slot {
            tags.push(("Mirror-Slot".into(), slot.to_string()));
        }
        tags
    }

    /// The message a gateway `RequestSent` event becomes: (target, tags, data). A call that
    /// cannot be delivered (a malformed process id, an action no tag can hold) is refused on
    /// its own; the rest of the batch still applies, so one bad call never stalls a chain.
    fn call(&self, event: &ChainEvent, msg: &Message) -> Result<Call, String> {
        let request = event
            .fields
            .request()
            .ok_or("fields are not a gateway request")?;
        let target = request.process.clone();
        if !is_process_id(&target) {
            return Err(format!("process {target:?} is not an AO process id"));
        }
        let action = request.action.clone();
        if action.is_empty() || action.len() > MAX_TAG_VALUE {
            return Err(format!(
                "action must be 1 to {MAX_TAG_VALUE} bytes, got {}",
                action.len()
            ));
        }
        let mut tags = vec![
            ("Action".to_string(), action),
            ("Chain-Id".to_string(), self.config.chain_id.clone()),
            ("Gateway".to_string(), self.config.contract.clone()),
            ("Sender".to_string(), request.sender.clone()),
            ("Request-Id".to_string(), request.request_id.clone()),
            ("Chain-Tx".to_string(), event.tx_hash.clone()),
        ];
        if let Some(slot) = msg.slot {
            tags.push(("Mirror-Slot".into(), slot.to_string()));
        }
        if request.data_encoding.as_deref() == Some("hex") {
            tags.push(("Data-Encoding".into(), "hex".into()));
        }
        if request.tags.len() > MAX_CALLER_TAGS {
            return Err(format!(
                "{} tags set by the caller, at most {MAX_CALLER_TAGS}",
                request.tags.len()
            ));
        }
        for (name, value) in &request.tags {
            let name = format!("{CALLER_TAG_PREFIX}{name}");
            if name.len() == CALLER_TAG_PREFIX.len() || name.len() > MAX_TAG_NAME {
                return Err(format!(
                    "tag name {name:?} must be 1 to {} bytes",
                    MAX_TAG_NAME - CALLER_TAG_PREFIX.len()
                ));
            }
            if value.len() > MAX_TAG_VALUE {
                return Err(format!("tag {name}: value over {MAX_TAG_VALUE} bytes"));
            }
            tags.push((name, value.clone()));
        }
        Ok(Call {
            pending: PendingCall {
                process: target.clone(),
                sender: request.sender.clone(),
                request_id: request.request_id.clone(),
                tx: event.tx_hash.clone(),
            },
            target,
            tags,
            data: request.data.clone(),
        })
    }

    fn chain_event(&mut self, msg: &Message) -> Reply {
        if let Err(e) = self.check_source(msg) {
            return Reply::error(format!("Chain-Event refused: {e}"));
        }
        let batch = match ChainEventBatch::decode(msg.data.as_bytes()) {
            Ok(batch) => batch,
            Err(e) => return Reply::error(format!("Chain-Event refused, nothing applied: {e}")),
        };
        // Applied on a copy: a withdrawal the view cannot cover leaves nothing half-applied.
        let mut next = self.state.clone();
        let mut accepted = Vec::new();
        let (mut duplicates, mut stale) = (0u64, 0u64);
        for event in batch.events {
            if event.block_number < next.floor {
                stale += 1;
                continue;
            }
            if !next.seen.insert(event.key()) {
                duplicates += 1;
                continue;
            }
            if !next.apply(&event, false) {
                return Reply::error(format!(
                    "Chain-Event refused, nothing applied: {} {} withdraws more than the mirrored deposit",
                    event.event,
                    event.key()
                ));
            }
            next.recent
                .entry(event.block_number)
                .or_default()
                .push(event.clone());
            accepted.push(event);
        }
        if let Some(head) = batch.head
            && next.head.as_ref().is_none_or(|h| head.number >= h.number)
        {
            next.head = Some(head.into());
        }
        let newest = next
            .head
            .as_ref()
            .map(|h| h.number)
            .into_iter()
            .chain(accepted.iter().map(|e| e.block_number))
            .max();
        if let Some(newest) = newest {
            let keep_from = newest.saturating_sub(self.config.reorg_window - 1);
            let kept = next.recent.split_off(&keep_from);
            for event in std::mem::replace(&mut next.recent, kept).values().flatten() {
                next.seen.remove(&event.key());
            }
            next.floor = next.floor.max(keep_from);
        }
        next.duplicates += duplicates;
        next.stale += stale;
        // Each subscriber gets one message with its events.
        let tags = self.forward_tags("Chain-Event", msg);
        let mut messages = Vec::new();
        for (pid, events) in next.by_subscriber(&accepted) {
            let data = ChainEventBatch::new(events, None).to_text();
            messages.push(next.outbox.message(&pid, tags.clone(), data));
        }
        // Gateway calls go to the process they name, as that process's own message.
        let mut calls = 0u64;
        let mut refused_calls = Vec::new();
        for event in accepted.iter().filter(|e| e.event == REQUEST_SENT) {
            match self.call(event, msg) {
                Ok(call) => {
                    messages.push(next.outbox.message(&call.target, call.tags, call.data));
                    if self.config.answers {
                        next.pending.insert(next.outbox.sent, call.pending);
                    }
                    calls += 1;
                }
                Err(reason) => refused_calls.push(json!({"event": event.key(), "reason": reason})),
            }
        }
        next.refused_calls += refused_calls.len() as u64;
        self.state = next;
        Reply {
            output: json!({"accepted": accepted.len(), "duplicates": duplicates, "stale": stale, "forwarded": messages.len(), "calls": calls, "refusedCalls": refused_calls}),
            messages,
            error: None,
        }
    }

    fn chain_reorg(&mut self, msg: &Message) -> Reply {
        if let Err(e) = self.check_source(msg) {
            return Reply::error(format!("Chain-Reorg refused: {e}"));
        }
        let reorg = match ChainReorg::decode(msg.data.as_bytes()) {
            Ok(reorg) => reorg,
            Err(e) => return Reply::error(format!("Chain-Reorg refused: {e}")),
        };
        let from = reorg.from_block;
        let by_head = self.state.head.as_ref().map_or(0, |current| {
            current.number.saturating_sub(self.config.reorg_window - 1)
        });
        let oldest_kept = by_head.max(self.state.floor);
        if from < oldest_kept {
            return Reply::error(format!(
                "Chain-Reorg from block {from} reaches past the reorg window (events before block {oldest_kept} are no longer held in full); nothing changed"
            ));
        }
        let mut next = self.state.clone();
        let orphaned = next.recent.split_off(&from);
        let mut retracted: Vec<ChainEvent> = orphaned.into_values().flatten().collect();
        retracted.reverse();
        for event in &retracted {
            let key = event.key();
            next.seen.remove(&key);
            if !next.apply(event, true) {
                return Reply::error(format!("Chain-Reorg could not undo {key}; nothing changed"));
            }
        }
        next.head = reorg.head.map(Head::from).or_else(|| {
            from.checked_sub(1).map(|n| Head {
                number: n,
                hash: String::new(),
            })
        });
        let tags = self.forward_tags("Chain-Reorg", msg);
        let mut messages = Vec::new();
        for (pid, events) in next.by_subscriber(&retracted) {
            let data = Retraction {
                from_block: from,
                retracted: events,
            }
            .to_text();
            messages.push(next.outbox.message(&pid, tags.clone(), data));
        }
        self.state = next;
        Reply {
            output: json!({"retracted": retracted.len(), "fromBlock": from}),
            messages,
            error: None,
        }
    }

    /// A reply to the call that carried `Reference` = `reference`.
    fn answer(&mut self, msg: &Message, reference: &str) -> Reply {
        let refused = |why: String| Reply::error(format!("answer refused: {why}"));
        let Some((number, call)) = reference
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| Some((n, self.state.pending.get(&n)?)))
        else {
            return refused(format!(
                "no call with Reference {reference:?} awaits an answer (answered already, or never made by this mirror)"
            ));
        };
        if msg.from != call.process && !self.config.answerers.contains(&msg.from) {
            return refused(format!(
                "request {} named process {}, not {} (nor is it an Answerer)",
                call.request_id,
                call.process,
                if msg.from.is_empty() {
                    "(no sender)"
                } else {
                    &msg.from
                }
            ));
        }
        let answer = Answer {
            chain_id: self.config.chain_id.clone(),
            gateway: self.config.contract.clone(),
            target: call.sender.clone(),
            request_id: call.request_id.clone(),
            request_tx: call.tx.clone(),
            process: msg.from.clone(),
            requested_process: call.process.clone(),
            message: msg.id.clone().unwrap_or_default(),
            mirror: self.config.process.clone(),
            slot: msg.slot.unwrap_or_default(),
            data: msg.data.clone(),
            data_encoding: msg
                .tag("Data-Encoding")
                .filter(|e| *e == "hex")
                .map(str::to_string),
            tags: msg
                .tags
                .iter()
                .filter(|(name, _)| !ENVELOPE_TAGS.contains(&name.as_str()))
                .cloned()
                .collect(),
        };
        if let Err(e) = answer.payload(0) {
            return refused(e.to_string());
        }
        self.state.pending.remove(&number);
        self.state.answered += 1;
        Reply {
            output: json!({ "answer": answer }),
            ..Reply::default()
        }
    }

    fn subscription(&mut self, msg: &Message, subscribe: bool) -> Reply {
        let Some(event) = msg.tag("Event").filter(|e| !e.is_empty()) else {
            return Reply::error(format!("{} needs an Event tag (a name or *)", msg.action()));
        };
        let subscriber = match msg.tag("Subscriber") {
            Some(other) => {
                if msg.from != self.config.owner && !self.config.authorities.contains(&msg.from) {
                    return Reply::error(
                        "only the owner or an Authority may (un)subscribe another process",
                    );
                }
                other.to_string()
            }
            None => msg.from.clone(),
        };
        if subscriber.is_empty() {
            return Reply::error("no subscriber: the message has no sender");
        }
        let changed = if subscribe {
            self.state
                .subscribers
                .entry(event.to_string())
                .or_default()
                .insert(subscriber.clone())
        } else {
            let removed = self
                .state
                .subscribers
                .get_mut(event)
                .is_some_and(|set| set.remove(&subscriber));
            self.state.subscribers.retain(|_, set| !set.is_empty());
            removed
        };
        Reply {
            output: json!({"event": event, "subscriber": subscriber, "subscribed": subscribe, "changed": changed}),
            ..Reply::default()
        }
    }

    fn info(&self) -> Value {
        let mut info = json!({
            "device": NAME,
            "chainId": self.config.chain_id,
            "contract": self.config.contract,
            "authorities": self.config.authorities,
            "reorgWindow": self.config.reorg_window,
            "head": self.state.head,
            "events": self.state.counts.values().sum::<u64>(),
            "duplicates": self.state.duplicates,
            "stale": self.state.stale,
            "refusedCalls": self.state.refused_calls,
            "subscribers": self.state.subscribers,
        });
        if self.config.answers {
            info["pendingCalls"] = json!(self.state.pending.len());
            info["answered"] = json!(self.state.answered);
            info["answerers"] = json!(self.config.answerers);
        }
        info
    }

    fn view(&self) -> Value {
        json!({
            "head": self.state.head,
            "counts": self.state.counts,
            "deposited": self.state.deposited,
            "poolTotals": self.state.pool_totals,
        })
    }
}

impl Device for Mirror {
    fn handle(&mut self, msg: &Message) -> Reply {
        if let Some(reference) = msg.tag("X-Reference")
            && self.config.answers
            && !self.config.authorities.contains(&msg.from)
        {
            return self.answer(msg, reference);
        }
        match msg.action() {
            "Chain-Event" => self.chain_event(msg),
            "Chain-Reorg" => self.chain_reorg(msg),
            "Subscribe" => self.subscription(msg, true),
            "Unsubscribe" => self.subscription(msg, false),
            "Info" => Reply {
                output: self.info(),
                ..Reply::default()
            },
            "State" => Reply {
                output: self.view(),
                ..Reply::default()
            },
            // The process's own spawn message (slot 0) carries no action.
            "" if msg.slot == Some(0) => Reply {
                output: json!("mirror ready"),
                ..Reply::default()
            },
            other => Reply::error(format!(
                "unknown action {other:?} (Chain-Event, Chain-Reorg, Subscribe, Unsubscribe, Info, State; an answer to a call carries the call's Reference as X-Reference)"
            )),
        }
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&self.state).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ADAPTER: &str = "ADAPTERaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SUB: &str = "SUBSCRIBERbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const ALL: &str = "EVERYTHINGccccccccccccccccccccccccccccccccc";
    const CONTRACT: &str = "0xAbCdEf0123456789abcdef0123456789ABCDEF01";

    fn env(extra: &[(&str, &str)]) -> DeviceEnv {
        let mut tags = vec![
            ("Chain-Id".to_string(), "31337".to_string()),
            ("Contract".to_string(), CONTRACT.to_string()),
            ("Authority".to_string(), ADAPTER.to_string()),
            ("Subscribe".to_string(), format!("UserStaked:{SUB}")),
            ("Subscribe".to_string(), format!("*:{ALL}")),
        ];
        tags.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        DeviceEnv {
            process_id: "mirror".into(),
            owner: "owner".into(),
            tags,
        }
    }

    fn event(name: &str, tx: u32, index: u64, block: u64, user: &str, amount: u64) -> Value {
        json!({
            "event": name, "txHash": format!("0x{tx:064x}"), "logIndex": index,
            "blockNumber": block, "blockHash": format!("0x{block:064x}"),
            "fields": {"poolId": "0", "user": user, "amount": amount.to_string(), "arweaveAddress": "0x00"}
        })
    }

    fn msg(action: &str, from: &str, data: Value, slot: u64) -> Message {
        Message {
            id: Some(format!("m{slot}")),
            from: from.into(),
            owner: from.into(),
            tags: vec![
                ("Action".into(), action.into()),
                ("Chain-Id".into(), "31337".into()),
                ("Contract".into(), CONTRACT.to_lowercase()),
            ],
            data: data.to_string(),
            timestamp: 1_000 + slot as i64,
            block_height: 1,
            slot: Some(slot),
            read_only: false,
        }
    }

    fn batch(events: Vec<Value>, head: u64) -> Value {
        json!({"events": events, "head": {"number": head, "hash": format!("0x{head:064x}")}})
    }

    fn call(tx: u32, process: &str, action: &str, data: &str) -> Value {
        json!({
            "event": "RequestSent", "txHash": format!("0x{tx:064x}"), "logIndex": 0,
            "blockNumber": 7, "blockHash": format!("0x{:064x}", 7),
            "fields": {"requestId": tx.to_string(), "sender": "0x00000000000000000000000000000000000000d4",
                       "process": process, "action": action, "data": data}
        })
    }

    #[test]
    fn a_callers_tags_arrive_prefixed_and_never_replace_the_nodes() {
        const TARGET: &str = "TARGETdddddddddddddddddddddddddddddddddddd0";
        let mut m = Mirror::new(&env(&[])).unwrap();
        let mut tagged = call(1, TARGET, "Ping", "hi");
        tagged["fields"]["tags"] = json!({"Action": "Steal", "Sender": "me", "Note": "hello"});
        let mut too_many = call(2, TARGET, "Ping", "hi");
        let many: serde_json::Map<String, Value> =
            (0..65).map(|i| (format!("T{i}"), json!("v"))).collect();
        too_many["fields"]["tags"] = Value::Object(many);
        let mut empty_name = call(3, TARGET, "Ping", "hi");
        empty_name["fields"]["tags"] = json!({"": "v"});
        let reply = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![tagged, too_many, empty_name], 7),
            1,
        ));
        assert!(reply.error.is_none(), "{reply:?}");
        assert_eq!(reply.output["calls"], 1, "{reply:?}");
        let refused = reply.output["refusedCalls"].as_array().unwrap();
        assert_eq!(refused.len(), 2);
        assert!(
            refused[0]["reason"]
                .as_str()
                .unwrap()
                .contains("at most 64")
        );
        assert!(
            refused[1]["reason"]
                .as_str()
                .unwrap()
                .contains("1 to 1022 bytes")
        );
        let out = reply.messages.iter().find(|o| o.target == TARGET).unwrap();
        let all = |name: &str| -> Vec<&str> {
            out.tags
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(all("Action"), ["Ping"], "the node's Action stands alone");
        assert_eq!(
            all("Sender"),
            ["0x00000000000000000000000000000000000000d4"]
        );
        assert_eq!(all("X-Action"), ["Steal"]);
        assert_eq!(all("X-Sender"), ["me"]);
        assert_eq!(all("X-Note"), ["hello"]);
    }

    fn reply_to(reference: &str, from: &str, slot: u64, data: &str) -> Message {
        Message {
            id: Some(format!("answer{slot}")),
            from: from.into(),
            owner: "node".into(),
            tags: vec![
                ("Data-Protocol".into(), "ao".into()),
                ("Type".into(), "Message".into()),
                ("Action".into(), "Pong".into()),
                ("Reference".into(), "41".into()),
                ("X-Reference".into(), reference.into()),
                ("From-Process".into(), from.into()),
                ("Pushed-For".into(), "somewhere".into()),
                ("Note".into(), "kept".into()),
            ],
            data: data.into(),
            timestamp: 2_000,
            block_height: 1,
            slot: Some(slot),
            read_only: false,
        }
    }

    #[test]
    fn a_call_takes_one_answer_from_the_process_it_named() {
        const TARGET: &str = "TARGETdddddddddddddddddddddddddddddddddddd0";
        const OTHER: &str = "OTHERddddddddddddddddddddddddddddddddddddd0";
        const HELPER: &str = "HELPERdddddddddddddddddddddddddddddddddddd0";
        let mut m = Mirror::new(&env(&[("Answerer", HELPER)])).unwrap();
        let reply = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(
                vec![call(1, TARGET, "Ping", "a"), call(2, TARGET, "Ping", "b")],
                7,
            ),
            1,
        ));
        let references: Vec<String> = reply
            .messages
            .iter()
            .filter(|o| o.target == TARGET)
            .map(|o| {
                o.tags
                    .iter()
                    .find(|(n, _)| n == "Reference")
                    .unwrap()
                    .1
                    .clone()
            })
            .collect();
        assert_eq!(references.len(), 2);
        let before = m.save();

        // Another process, an unknown reference, a reference that is not a number: refused,
        // nothing changes.
        for bad in [
            reply_to(&references[0], OTHER, 2, "x"),
            reply_to("999", TARGET, 2, "x"),
            reply_to("one", TARGET, 2, "x"),
        ] {
            let r = m.handle(&bad);
            assert!(
                r.error.as_deref().unwrap().starts_with("answer refused"),
                "{r:?}"
            );
            assert_eq!(m.save(), before);
        }
        let r = m.handle(&reply_to(&references[0], OTHER, 2, "x"));
        assert!(
            r.error
                .unwrap()
                .contains(&format!("named process {TARGET}, not {OTHER}"))
        );

        let r = m.handle(&reply_to(&references[0], TARGET, 3, "pong"));
        assert!(r.error.is_none(), "{r:?}");
        let answer: Answer = serde_json::from_value(r.output["answer"].clone()).unwrap();
        assert_eq!(answer.request_id, "1");
        assert_eq!(answer.target, "0x00000000000000000000000000000000000000d4");
        assert_eq!(answer.gateway, CONTRACT.to_lowercase());
        assert_eq!(answer.process, TARGET);
        assert_eq!(answer.message, "answer3");
        assert_eq!(answer.slot, 3);
        assert_eq!(answer.mirror, "mirror");
        assert_eq!(answer.data, "pong");
        assert_eq!(
            answer.tags,
            [
                ("Action".to_string(), "Pong".to_string()),
                ("Note".into(), "kept".into())
            ],
            "the envelope is not the answer's"
        );
        assert!(r.messages.is_empty());

        // Once only.
        let again = m.handle(&reply_to(&references[0], TARGET, 4, "pong"));
        assert!(again.error.unwrap().contains("answered already"));
        // An Answerer may answer the other call.
        let r = m.handle(&reply_to(&references[1], HELPER, 5, "b!"));
        assert!(r.error.is_none(), "{r:?}");
        assert_eq!(r.output["answer"]["requestedProcess"], TARGET);
        let info = m.handle(&msg("Info", "x", json!(null), 6)).output;
        assert_eq!(info["answered"], 2);
        assert_eq!(info["pendingCalls"], 0);
        // The saved state restores to the same bytes.
        let restored = Mirror::restore(&env(&[("Answerer", HELPER)]), &m.save()).unwrap();
        assert_eq!(restored.save(), m.save());
    }

    #[test]
    fn a_mirror_1_0_takes_no_answers_and_keeps_its_bytes() {
        const TARGET: &str = "TARGETdddddddddddddddddddddddddddddddddddd0";
        let mut m = Mirror::new_1_0(&env(&[])).unwrap();
        let reply = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![call(1, TARGET, "Ping", "a")], 7),
            1,
        ));
        assert_eq!(reply.output["calls"], 1);
        let text = String::from_utf8(m.save()).unwrap();
        assert!(!text.contains("pending"), "{text}");
        let r = m.handle(&reply_to("1", TARGET, 2, "pong"));
        assert!(r.error.unwrap().starts_with("unknown action"));
        let info = m.handle(&msg("Info", "x", json!(null), 3)).output;
        assert!(info.get("answered").is_none(), "{info}");
        let restored = Mirror::restore_1_0(&env(&[]), &m.save()).unwrap();
        assert_eq!(restored.save(), m.save());
    }

    #[test]
    fn a_mirror_without_calls_saves_the_bytes_it_always_did() {
        let m = Mirror::new(&env(&[])).unwrap();
        let text = String::from_utf8(m.save()).unwrap();
        assert!(
            !text.contains("pending") && !text.contains("answered"),
            "{text}"
        );
        assert!(matches!(
            Mirror::new(&env(&[("Answerer", "nope")])),
            Err(DeviceError::Config { tag, .. }) if tag == "Answerer"
        ));
    }

    #[test]
    fn gateway_calls_reach_the_named_process_and_bad_ones_are_refused_alone() {
        const TARGET: &str = "TARGETdddddddddddddddddddddddddddddddddddd0";
        let mut m = Mirror::new(&env(&[])).unwrap();
        let events = vec![
            call(1, TARGET, "Ping", "hello"),
            call(2, "not-a-process", "Ping", "x"),
            call(3, TARGET, "", "x"),
        ];
        let reply = m.handle(&msg("Chain-Event", ADAPTER, batch(events, 7), 1));
        assert!(reply.error.is_none(), "{reply:?}");
        assert_eq!(reply.output["accepted"], 3);
        assert_eq!(reply.output["calls"], 1);
        assert_eq!(reply.output["refusedCalls"].as_array().unwrap().len(), 2);
        let to_target: Vec<&crate::OutMessage> = reply
            .messages
            .iter()
            .filter(|o| o.target == TARGET)
            .collect();
        assert_eq!(to_target.len(), 1);
        let out = to_target[0];
        let tag = |n: &str| {
            out.tags
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(tag("Action"), Some("Ping"));
        assert_eq!(tag("Chain-Id"), Some("31337"));
        assert_eq!(
            tag("Sender"),
            Some("0x00000000000000000000000000000000000000d4")
        );
        assert_eq!(tag("Request-Id"), Some("1"));
        assert_eq!(tag("Gateway"), Some(CONTRACT.to_lowercase().as_str()));
        assert_eq!(out.data, "hello");
        assert_eq!(m.info()["refusedCalls"], 2);
        // The same call again is a duplicate: not delivered twice.
        let again = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![call(1, TARGET, "Ping", "hello")], 7),
            2,
        ));
        assert_eq!(again.output["calls"], 0);
        assert_eq!(again.output["duplicates"], 1);
    }

    #[test]
    fn config_errors_name_the_tag() {
        let mut bad = env(&[]);
        bad.tags.retain(|(n, _)| n != "Authority");
        assert!(
            matches!(Mirror::new(&bad), Err(DeviceError::Config { tag, .. }) if tag == "Authority")
        );
        let mut bad = env(&[]);
        bad.tags[1].1 = "0x1234".into();
        assert!(
            matches!(Mirror::new(&bad), Err(DeviceError::Config { tag, .. }) if tag == "Contract")
        );
        let bad = env(&[("Subscribe", "nonsense")]);
        assert!(
            matches!(Mirror::new(&bad), Err(DeviceError::Config { tag, .. }) if tag == "Subscribe")
        );
        let bad = env(&[("Reorg-Window", "0")]);
        assert!(
            matches!(Mirror::new(&bad), Err(DeviceError::Config { tag, .. }) if tag == "Reorg-Window")
        );
    }

    #[test]
    fn unauthorised_or_foreign_events_change_nothing() {
        let mut m = Mirror::new(&env(&[])).unwrap();
        let before = m.save();
        let data = batch(vec![event("UserStaked", 1, 0, 5, "0xu", 10)], 5);
        let r = m.handle(&msg("Chain-Event", "intruder", data.clone(), 1));
        assert!(r.error.as_deref().unwrap().contains("Authority"), "{r:?}");
        let mut wrong_chain = msg("Chain-Event", ADAPTER, data.clone(), 2);
        wrong_chain.tags[1].1 = "1".into();
        assert!(m.handle(&wrong_chain).error.unwrap().contains("Chain-Id"));
        let mut wrong_contract = msg("Chain-Event", ADAPTER, data.clone(), 3);
        wrong_contract.tags[2].1 = "0x0000000000000000000000000000000000000001".into();
        assert!(
            m.handle(&wrong_contract)
                .error
                .unwrap()
                .contains("Contract")
        );
        let r = m.handle(&msg("Chain-Reorg", "intruder", json!({"fromBlock": 1}), 4));
        assert!(r.error.is_some());
        assert_eq!(m.save(), before);
    }

    #[test]
    fn events_are_kept_once_viewed_and_forwarded_to_their_subscribers() {
        let mut m = Mirror::new(&env(&[])).unwrap();
        let a = event("UserStaked", 1, 0, 5, "0xAA", 100);
        let w = event("UserWithdrawn", 2, 3, 6, "0xaa", 40);
        let other = event("OverplusBridged", 3, 0, 6, "0xaa", 1);
        let r = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![a.clone(), a.clone(), w.clone(), other.clone()], 7),
            1,
        ));
        assert_eq!(r.error, None);
        assert_eq!(r.output["accepted"], 3);
        assert_eq!(r.output["duplicates"], 1);
        // SUB gets only UserStaked; ALL gets everything; one message each.
        assert_eq!(r.messages.len(), 2);
        let to = |pid: &str| r.messages.iter().find(|m| m.target == pid).unwrap();
        let sub: Value = serde_json::from_str(&to(SUB).data).unwrap();
        assert_eq!(sub["events"], json!([a]));
        let all: Value = serde_json::from_str(&to(ALL).data).unwrap();
        assert_eq!(all["events"].as_array().unwrap().len(), 3);
        let reference = |m: &crate::OutMessage| {
            m.tags
                .iter()
                .find(|(n, _)| n == "Reference")
                .unwrap()
                .1
                .clone()
        };
        assert_ne!(reference(to(SUB)), reference(to(ALL)));
        assert!(to(SUB).tags.contains(&("Mirror-Slot".into(), "1".into())));

        // A later batch repeating an event: ignored.
        let r = m.handle(&msg("Chain-Event", ADAPTER, batch(vec![w.clone()], 8), 2));
        assert_eq!(r.output["accepted"], 0);
        assert!(r.messages.is_empty());

        let view = m.handle(&msg("State", "anyone", json!(null), 3)).output;
        assert_eq!(view["deposited"]["0xaa|0"], "60");
        assert_eq!(view["poolTotals"]["0"], "60");
        assert_eq!(view["counts"]["OverplusBridged"], 1);
        assert_eq!(view["head"]["number"], 8);
        let info = m.handle(&msg("Info", "anyone", json!(null), 4)).output;
        assert_eq!(info["events"], 3);
        assert_eq!(info["duplicates"], 2);
    }

    #[test]
    fn a_malformed_event_applies_nothing() {
        let mut m = Mirror::new(&env(&[])).unwrap();
        let before = m.save();
        let mut bad = event("UserStaked", 2, 0, 5, "0xu", 1);
        bad["fields"]["amount"] = json!("-3");
        let r = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![event("UserStaked", 1, 0, 5, "0xu", 1), bad], 5),
            1,
        ));
        assert!(r.error.unwrap().contains("event 1: fields.amount"));
        assert_eq!(m.save(), before);
        // A withdrawal beyond the mirrored deposit is refused whole.
        let r = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(
                vec![
                    event("UserStaked", 1, 0, 5, "0xu", 1),
                    event("UserWithdrawn", 2, 0, 5, "0xu", 2),
                ],
                5,
            ),
            2,
        ));
        assert!(r.error.is_some());
        assert_eq!(m.save(), before);
    }

    #[test]
    fn a_reorg_retracts_exactly_and_the_events_may_come_again() {
        let a = event("UserStaked", 1, 0, 5, "0xu", 100);
        let b = event("UserStaked", 2, 0, 7, "0xv", 50);
        let mut only_a = Mirror::new(&env(&[])).unwrap();
        only_a.handle(&msg("Chain-Event", ADAPTER, batch(vec![a.clone()], 6), 1));

        let mut m = Mirror::new(&env(&[])).unwrap();
        m.handle(&msg("Chain-Event", ADAPTER, batch(vec![a.clone()], 6), 1));
        m.handle(&msg("Chain-Event", ADAPTER, batch(vec![b.clone()], 8), 2));
        let r = m.handle(&msg(
            "Chain-Reorg",
            ADAPTER,
            json!({"fromBlock": 7, "head": {"number": 6, "hash": format!("0x{:064x}", 6)}}),
            3,
        ));
        assert_eq!(r.error, None);
        assert_eq!(r.output["retracted"], 1);
        // Both subscribers hear of it (SUB subscribed to UserStaked, ALL to everything).
        assert_eq!(r.messages.len(), 2);
        let data: Value = serde_json::from_str(&r.messages[0].data).unwrap();
        assert_eq!(data["retracted"], json!([b]));
        // The view is exactly the one without B (the outbox counter aside).
        let view = |m: &Mirror| {
            let mut s = m.state.clone();
            s.outbox = Outbox::default();
            s.duplicates = 0;
            serde_json::to_vec(&s).unwrap()
        };
        assert_eq!(view(&m), view(&only_a));
        // B can be delivered again from the new chain.
        let r = m.handle(&msg("Chain-Event", ADAPTER, batch(vec![b.clone()], 8), 4));
        assert_eq!(r.output["accepted"], 1);
    }

    #[test]
    fn a_reorg_past_the_window_is_refused() {
        let mut m = Mirror::new(&env(&[("Reorg-Window", "4")])).unwrap();
        m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![event("UserStaked", 1, 0, 2, "0xu", 1)], 20),
            1,
        ));
        let before = m.save();
        let r = m.handle(&msg("Chain-Reorg", ADAPTER, json!({"fromBlock": 10}), 2));
        assert!(r.error.unwrap().contains("reorg window"));
        assert_eq!(m.save(), before);
        assert_eq!(
            m.handle(&msg("Chain-Reorg", ADAPTER, json!({"fromBlock": 18}), 3))
                .error,
            None
        );
    }

    #[test]
    fn subscriptions() {
        let mut m = Mirror::new(&env(&[])).unwrap();
        let mut s = msg("Subscribe", "proc-x", json!(null), 1);
        s.tags.push(("Event".into(), "UserWithdrawn".into()));
        assert_eq!(m.handle(&s).output["changed"], true);
        assert_eq!(m.handle(&s).output["changed"], false, "idempotent");
        let mut other = msg("Subscribe", "proc-x", json!(null), 2);
        other.tags.push(("Event".into(), "*".into()));
        other.tags.push(("Subscriber".into(), "proc-y".into()));
        assert!(
            m.handle(&other).error.is_some(),
            "only owner/authority may name another"
        );
        let mut by_owner = other.clone();
        by_owner.from = "owner".into();
        assert!(by_owner_reply(&mut m, &by_owner));
        let mut un = msg("Unsubscribe", "proc-x", json!(null), 3);
        un.tags.push(("Event".into(), "UserWithdrawn".into()));
        assert_eq!(m.handle(&un).output["changed"], true);
        assert!(
            m.handle(&msg("Nonsense", "x", json!(null), 4))
                .error
                .is_some()
        );
    }

    fn by_owner_reply(m: &mut Mirror, msg: &Message) -> bool {
        m.handle(msg).output["changed"] == true
    }

    #[test]
    fn save_and_restore_mid_stream_is_byte_identical() {
        let stream: Vec<Message> = (0..20u32)
            .map(|i| {
                let e = event(
                    "UserStaked",
                    i,
                    0,
                    u64::from(i) + 1,
                    "0xu",
                    u64::from(i) + 1,
                );
                msg(
                    "Chain-Event",
                    ADAPTER,
                    batch(vec![e], u64::from(i) + 2),
                    u64::from(i) + 1,
                )
            })
            .collect();
        let mut straight = Mirror::new(&env(&[])).unwrap();
        for m in &stream {
            straight.handle(m);
        }
        let mut first = Mirror::new(&env(&[])).unwrap();
        for m in &stream[..9] {
            first.handle(m);
        }
        let mut second = Mirror::restore(&env(&[]), &first.save()).unwrap();
        for m in &stream[9..] {
            second.handle(m);
        }
        assert_eq!(straight.save(), second.save());
    }

    proptest! {
        /// Whatever mix of stakes, withdrawals and reorgs arrives, the view equals a
        /// recomputation from the events that survive.
        #[test]
        fn the_view_always_equals_a_recomputation(ops in proptest::collection::vec((0u8..4, 1u64..50, 0u8..3), 1..60)) {
            let mut m = Mirror::new(&env(&[])).unwrap();
            let mut block = 1u64;
            let mut tx = 0u32;
            let mut surviving: Vec<Value> = Vec::new();
            for (slot, (kind, amount, user)) in ops.into_iter().enumerate() {
                let user = format!("0xu{user}");
                let slot = slot as u64 + 1;
                match kind {
                    0 | 1 => {
                        tx += 1;
                        block += 1;
                        let name = if kind == 0 { "UserStaked" } else { "UserWithdrawn" };
                        let e = event(name, tx, 0, block, &user, amount);
                        let r = m.handle(&msg("Chain-Event", ADAPTER, batch(vec![e.clone()], block), slot));
                        if r.error.is_none() && r.output["accepted"] == 1 {
                            surviving.push(e);
                        }
                    }
                    _ => {
                        let from = block.saturating_sub(amount % 4);
                        let r = m.handle(&msg("Chain-Reorg", ADAPTER, json!({"fromBlock": from}), slot));
                        if r.error.is_none() {
                            surviving.retain(|e| e["blockNumber"].as_u64().unwrap() < from);
                            block = from.saturating_sub(1).max(1);
                        }
                    }
                }
            }
            let mut expected = State::default();
            for e in &surviving {
                prop_assert!(expected.apply(&serde_json::from_value(e.clone()).unwrap(), false));
            }
            prop_assert_eq!(&m.state.deposited, &expected.deposited);
            prop_assert_eq!(&m.state.pool_totals, &expected.pool_totals);
            prop_assert_eq!(&m.state.counts, &expected.counts);
        }
    }

    #[test]
    fn only_the_reorg_window_is_remembered_and_older_events_are_refused_as_replays() {
        let mut m = Mirror::new(&env(&[("Reorg-Window", "4")])).unwrap();
        for block in 1..=20u64 {
            let stake = event("UserStaked", block as u32, 0, block, "0xa11ce", 10);
            let reply = m.handle(&msg(
                "Chain-Event",
                ADAPTER,
                batch(vec![stake], block),
                block,
            ));
            assert_eq!(reply.output["accepted"], 1, "{reply:?}");
        }
        // Twenty events held, but only the window's keys kept.
        assert_eq!(m.info()["events"], 20);
        assert_eq!(m.state.seen.len(), 4);
        assert_eq!(m.state.floor, 17);
        // A replay from inside the window is a duplicate; from before it, stale. Neither counts.
        let inside = event("UserStaked", 19, 0, 19, "0xa11ce", 10);
        let before = event("UserStaked", 3, 0, 3, "0xa11ce", 10);
        let reply = m.handle(&msg(
            "Chain-Event",
            ADAPTER,
            batch(vec![inside, before], 20),
            21,
        ));
        assert_eq!(reply.output["accepted"], 0, "{reply:?}");
        assert_eq!(reply.output["duplicates"], 1);
        assert_eq!(reply.output["stale"], 1);
        assert_eq!(m.info()["stale"], 1);
        assert_eq!(m.view()["deposited"]["0xa11ce|0"], "200");
        // A reorg can reach back to the window's start, not before it.
        let deep = m.handle(&msg("Chain-Reorg", ADAPTER, json!({"fromBlock": 16}), 22));
        assert!(
            deep.error.as_deref().unwrap_or("").contains("reorg window"),
            "{deep:?}"
        );
        let ok = m.handle(&msg("Chain-Reorg", ADAPTER, json!({"fromBlock": 17}), 23));
        assert!(ok.error.is_none(), "{ok:?}");
        assert_eq!(m.info()["events"], 16);
        assert_eq!(m.view()["deposited"]["0xa11ce|0"], "160");
        assert!(m.state.seen.is_empty());
    }
}
