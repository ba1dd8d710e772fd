//! The messenger (MU role): turns a result's outbox into data items signed by the node key.
//!
//! Built as the MU builds them (`servers/mu` `build-tx.js`, `spawn-process.js`,
//! `build-success-tx.js`). Ed25519 signatures are deterministic, so evaluating the same result
//! again (after a crash, on replay) yields the same item ids, and scheduling them again is a
//! no-op: each outbox entry reaches its target exactly once.

use serde_json::Value;

use aolink_primitives::ao::{AoTags, ItemType};

use crate::ans104::{DataItem, ItemError, Signer, Tag, b64url_decode_32};

/// Everything one result asks the messenger to do.
#[derive(Debug, Default)]
pub struct Pushes {
    /// Messages to schedule on their targets.
    pub messages: Vec<DataItem>,
    /// Processes to spawn, each with the `Spawned` reply for its parent.
    pub spawns: Vec<(DataItem, DataItem)>,
    /// (processes, message id) assignments.
    pub assignments: Vec<(Vec<String>, String)>,
    /// Outbox entries that could not be turned into items, with the reason (logged, not fatal:
    /// a process may `Send` to a name that is not a process id).
    pub skipped: Vec<String>,
}

/// Where a result came from.
#[derive(Clone, Debug)]
pub struct PushContext {
    /// The process whose result this is.
    pub process: String,
    /// Its module.
    pub module: String,
    /// The message it evaluated.
    pub pushed_for: String,
    /// The node's address (scheduler, and an authority of what it spawns).
    pub node_address: String,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn tags_of(entry: &Value) -> Vec<Tag> {
    entry["Tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    let name = t.get("name")?;
                    Some(Tag::new(value_text(name), value_text(t.get("value")?)))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn anchor_of(entry: &Value) -> Option<[u8; 32]> {
    entry["Anchor"]
        .as_str()
        .and_then(|a| <[u8; 32]>::try_from(a.as_bytes()).ok())
}

fn data_of(entry: &Value) -> Vec<u8> {
    match &entry["Data"] {
        Value::Null => Vec::new(),
        other => value_text(other).into_bytes(),
    }
}

/// Builds the items a result's `Messages`, `Spawns` and `Assignments` call for.
pub fn pushes(signer: &dyn Signer, result: &Value, ctx: &PushContext) -> Result<Pushes, ItemError> {
    let mut out = Pushes::default();
    if result.get("Error").is_some_and(|e| !e.is_null()) {
        return Ok(out);
    }
    for msg in result["Messages"].as_array().into_iter().flatten() {
        let Some(target_text) = msg["Target"].as_str() else {
            out.skipped.push("a message without a Target".into());
            continue;
        };
        let Ok(target) = b64url_decode_32(target_text, "Target") else {
            out.skipped
                .push(format!("Target {target_text:?} is not a process id"));
            continue;
        };
        let all = tags_of(msg);
        let assign_to: Vec<String> = all
            .iter()
            .filter(|t| t.name == "Assignments")
            .flat_map(|t| {
                serde_json::from_str::<Vec<String>>(&t.value)
                    .unwrap_or_else(|_| t.value.split(',').map(|s| s.trim().to_string()).collect())
            })
            .filter(|p| !p.is_empty())
            .collect();
        let tags = AoTags::from_tags(all)
            .without(&[
                "Data-Protocol",
                "Type",
                "From-Process",
                "From-Module",
                "Assignments",
            ])
            .protocol()
            .kind(ItemType::Message)
            .with("From-Process", ctx.process.clone())
            .with("From-Module", ctx.module.clone())
            .with("Pushed-For", ctx.pushed_for.clone())
            .default_variant()
            .build();
        let item = DataItem::sign(signer, Some(target), anchor_of(msg), tags, data_of(msg))?;
        if !assign_to.is_empty() {
            out.assignments.push((assign_to, item.id_b64()));
        }
        out.messages.push(item);
    }
    for spawn in result["Spawns"].as_array().into_iter().flatten() {
        let original = tags_of(spawn);
        let mut tags = AoTags::from_tags(original.clone())
            .without(&["Data-Protocol", "Type"])
            .default_variant()
            .protocol()
            .kind(ItemType::Process)
            .with("From-Process", ctx.process.clone())
            .with("Pushed-For", ctx.pushed_for.clone())
            .with_default("Module", ctx.module.clone())
            .with_default("Scheduler", ctx.node_address.clone());
        // The node pushes this process's messages; aos drops messages from owners it does not
        // trust, so the node must be one of its authorities.
        if !tags.has_value("Authority", &ctx.node_address) {
            tags = tags.with("Authority", ctx.node_address.clone());
        }
        let tags = tags.build();
        let process = DataItem::sign(signer, None, anchor_of(spawn), tags, data_of(spawn))?;
        let parent = b64url_decode_32(&ctx.process, "From-Process")?;
        let reply_tags = AoTags::from_tags(original)
            .without(&[
                "Data-Protocol",
                "Variant",
                "Type",
                "Action",
                "Process",
                "From-Process",
            ])
            .protocol()
            .variant()
            .kind(ItemType::Message)
            .with("Action", "Spawned")
            .with("Process", process.id_b64())
            .with("From-Process", ctx.process.clone())
            .with("Pushed-For", ctx.pushed_for.clone())
            .build();
        let reply = DataItem::sign(signer, Some(parent), None, reply_tags, Vec::new())?;
        out.spawns.push((process, reply));
    }
    for assignment in result["Assignments"].as_array().into_iter().flatten() {
        let processes: Vec<String> = assignment["Processes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        match assignment["Message"].as_str() {
            Some(message) if !processes.is_empty() => {
                out.assignments.push((processes, message.to_string()));
            }
            _ => out
                .skipped
                .push("an assignment without Processes or Message".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ans104::{Ed25519Signer, b64url_encode};
    use serde_json::json;

    fn ctx() -> PushContext {
        PushContext {
            process: b64url_encode(&[1; 32]),
            module: b64url_encode(&[2; 32]),
            pushed_for: b64url_encode(&[3; 32]),
            node_address: b64url_encode(&[4; 32]),
        }
    }

    #[test]
    fn outbox_message_gets_the_mu_tags_and_is_deterministic() {
        let signer = Ed25519Signer::from_secret(&[9; 32]);
        let result = json!({"Messages": [{
            "Target": b64url_encode(&[5; 32]), "Data": "hi", "Anchor": "00000000000000000000000000000001",
            "Tags": [{"name": "Action", "value": "Ping"}, {"name": "From-Process", "value": "spoof"}, {"name": "N", "value": 5}]
        }, {"Target": "OTHER", "Data": "x", "Tags": []}]});
        let first = pushes(&signer, &result, &ctx()).unwrap();
        let again = pushes(&signer, &result, &ctx()).unwrap();
        assert_eq!(first.messages.len(), 1);
        assert_eq!(first.skipped.len(), 1);
        let item = &first.messages[0];
        assert_eq!(item.id_b64(), again.messages[0].id_b64());
        assert_eq!(item.tag("From-Process"), Some(ctx().process.as_str()));
        assert_eq!(
            item.tags
                .iter()
                .filter(|t| t.name == "From-Process")
                .count(),
            1
        );
        assert_eq!(item.tag("N"), Some("5"));
        assert_eq!(item.tag("Pushed-For"), Some(ctx().pushed_for.as_str()));
        assert_eq!(
            item.anchor.map(|a| a.to_vec()),
            Some(b"00000000000000000000000000000001".to_vec())
        );
        item.verify().unwrap();
    }

    #[test]
    fn spawn_makes_a_process_and_a_spawned_reply() {
        let signer = Ed25519Signer::from_secret(&[9; 32]);
        let result = json!({"Spawns": [{"Data": "boot", "Tags": [
            {"name": "Module", "value": b64url_encode(&[7; 32])}, {"name": "Reference", "value": "3"}
        ]}]});
        let out = pushes(&signer, &result, &ctx()).unwrap();
        let (process, reply) = &out.spawns[0];
        assert_eq!(process.tag("Type"), Some("Process"));
        assert_eq!(process.tag("Scheduler"), Some(ctx().node_address.as_str()));
        assert_eq!(process.tag("Authority"), Some(ctx().node_address.as_str()));
        assert_eq!(reply.tag("Action"), Some("Spawned"));
        assert_eq!(reply.tag("Process"), Some(process.id_b64().as_str()));
        assert_eq!(reply.tag("Reference"), Some("3"));
        assert_eq!(reply.target, Some([1; 32]));
    }

    #[test]
    fn an_error_result_pushes_nothing() {
        let signer = Ed25519Signer::from_secret(&[9; 32]);
        let result =
            json!({"Error": "boom", "Messages": [{"Target": b64url_encode(&[5; 32]), "Tags": []}]});
        let out = pushes(&signer, &result, &ctx()).unwrap();
        assert!(out.messages.is_empty());
    }
}
