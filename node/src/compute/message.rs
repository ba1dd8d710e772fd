//! The `msg` and `env` JSON a process module's `handle` receives, built as the CU builds them
//! (`servers/cu` `ao-su.js` `mapNode`, `evaluate.js` `removeInvalidTags`).

use serde_json::{Value, json};

use crate::ans104::{DataItem, Tag, b64url_encode};
use aolink_primitives::ao::Assignment;

/// The `msg` for a scheduled message at its assignment.
pub fn scheduled_message(item: &DataItem, assignment: &Assignment) -> Value {
    let owner = item.owner_address();
    let from_process = item.tag("From-Process").map(str::to_string);
    let mut msg = json!({
        "Id": item.id_b64(),
        "Signature": b64url_encode(&item.signature),
        "Owner": owner,
        "Target": item.target.map(|t| b64url_encode(&t)).unwrap_or_else(|| assignment.process.clone()),
        "Anchor": item.anchor.map(|a| String::from_utf8_lossy(&a).into_owned()),
        "From": from_process.clone().unwrap_or_else(|| owner.clone()),
        "Tags": visible_tags(&item.tags),
        "Data": String::from_utf8_lossy(&item.data),
        "Epoch": 0,
        "Nonce": assignment.slot,
        "Timestamp": assignment.timestamp,
        "Block-Height": assignment.block_height,
        "Hash-Chain": assignment.hash_chain,
        "Cron": false,
        "Read-Only": false,
    });
    if from_process.is_some() {
        msg["Forwarded-By"] = json!(owner);
    }
    msg
}

/// Tags as a process sees them: `From` and `Owner` tags are removed so they cannot be spoofed.
pub fn visible_tags(tags: &[Tag]) -> Vec<&Tag> {
    tags.iter()
        .filter(|t| t.name != "From" && t.name != "Owner")
        .collect()
}

/// The `env` of a process: its own item and its module's.
pub fn environment(process: &DataItem, module: &DataItem) -> Value {
    json!({
        "Process": {
            "Id": process.id_b64(),
            "Owner": process.owner_address(),
            "Tags": process.tags,
        },
        "Module": {
            "Id": module.id_b64(),
            "Owner": module.owner_address(),
            "Tags": module.tags,
        },
    })
}

/// The `msg` of a dry-run, from the JSON a client posts (aoconnect sends `Id`, `Owner`,
/// `Target`, `Data`, `Tags`, `Anchor`): read-only, never a cron, stamped with the time and
/// height of the process's newest evaluated message unless the client gave them.
pub fn dry_run_message(body: &Value, process: &str, last: Option<&Assignment>) -> Value {
    let mut msg = match body {
        Value::Object(map) => Value::Object(map.clone()),
        _ => json!({}),
    };
    let tags: Vec<Value> = msg
        .get("Tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter(|t| t["name"] != "From" && t["name"] != "Owner")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let owner = msg.get("Owner").cloned().unwrap_or(json!("1234"));
    let from = tags
        .iter()
        .find(|t| t["name"] == "From-Process")
        .map(|t| t["value"].clone())
        .unwrap_or_else(|| owner.clone());
    msg["Tags"] = Value::Array(tags);
    msg["Owner"] = owner;
    msg["From"] = from;
    if msg.get("Target").is_none() {
        msg["Target"] = json!(process);
    }
    if msg.get("Timestamp").is_none() {
        msg["Timestamp"] = json!(last.map_or(0, |a| a.timestamp));
    }
    if msg.get("Block-Height").is_none() {
        msg["Block-Height"] = json!(last.map_or(0, |a| a.block_height));
    }
    msg["Read-Only"] = json!(true);
    msg["Cron"] = json!(false);
    msg
}
