//! `GET /metrics`: the components' status reports (`GET /status`) in the Prometheus text
//! format, for the alerting operators already run.
//!
//! The mapping is generic, so a component's report is its metrics without this module knowing
//! its fields: each number or boolean field `f` of component `c` becomes
//! `aolink_<kind>_<f>{component="c"}` (camelCase turned into snake_case, booleans 0 or 1), and
//! each object in an array field `a` that has an `address` becomes
//! `aolink_<kind>_<a>_<f>{component="c",address="…"}` (and an object field `o` of it,
//! `aolink_<kind>_<a>_<o>_<f>{…}`). `kind` is the report's `kind` field
//! (`component` when it has none). Strings and nulls are left out.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;

use super::AppState;

/// `GET /metrics`.
pub(crate) async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let node = s.node.clone();
    let extra = tokio::task::spawn_blocking(move || delivery_samples(&node))
        .await
        .unwrap_or_default();
    let mut text = render(
        &as_values(s.node.statuses()),
        s.node.unrouted_calls().count,
        extra,
    );
    text.push_str(&s.node.compute().latency().render(
        "aolink_evaluation_seconds",
        "How long evaluating one scheduled message took.",
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The delivery queue and the signer: records per state, the open ones and the age of the
/// oldest, signatures since start, and whether the signer is halted.
fn delivery_samples(node: &crate::Node) -> Vec<Sample> {
    let mut out = Vec::new();
    match node.delivery_summary() {
        Ok(summary) => {
            // Every state, zero or not: a query or an alert on one finds it from the start.
            for state in aolink_primitives::delivery::DeliveryState::NAMES {
                let n = summary.by_state.get(state).copied().unwrap_or(0);
                out.push((
                    "aolink_deliveries".into(),
                    vec![("state", state.to_string())],
                    n as f64,
                ));
            }
            out.push((
                "aolink_deliveries_open".into(),
                Vec::new(),
                summary.open as f64,
            ));
            let age = summary.oldest_open_age_ms as f64 / 1000.0;
            out.push((
                "aolink_deliveries_oldest_open_age_seconds".into(),
                Vec::new(),
                age,
            ));
        }
        Err(e) => tracing::error!(error = %e, "delivery records not counted"),
    }
    let attester = node.attester();
    out.push((
        "aolink_attestations_signed".into(),
        Vec::new(),
        attester.signed_since_start() as f64,
    ));
    let halted = !matches!(attester.halted(), Ok(None));
    out.push((
        "aolink_signer_halted".into(),
        Vec::new(),
        if halted { 1.0 } else { 0.0 },
    ));
    out
}

/// The reports as JSON: the mapping below walks fields, whatever a component reports.
fn as_values<T: serde::Serialize>(statuses: BTreeMap<String, T>) -> BTreeMap<String, Value> {
    statuses
        .into_iter()
        .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect()
}

/// One sample: its metric name, labels and value.
type Sample = (String, Vec<(&'static str, String)>, f64);

/// The text exposition of `statuses`, metrics sorted by name, each with one `# TYPE` line.
/// `unrouted` is the count of chain calls to processes the node does not have.
pub(crate) fn render(
    statuses: &BTreeMap<String, Value>,
    unrouted: u64,
    extra: Vec<Sample>,
) -> String {
    let mut samples: Vec<Sample> = extra;
    samples.extend([
        ("aolink_up".into(), Vec::new(), 1.0),
        (
            "aolink_unrouted_chain_calls".into(),
            Vec::new(),
            unrouted as f64,
        ),
    ]);
    for (component, report) in statuses {
        let kind = report["kind"].as_str().unwrap_or("component");
        let Some(fields) = report.as_object() else {
            continue;
        };
        for (field, value) in fields {
            let name = format!("aolink_{}_{}", snake(kind), snake(field));
            if let Some(v) = number(value) {
                samples.push((name, vec![("component", component.clone())], v));
            } else if let Value::Array(items) = value {
                for item in items {
                    let Some(address) = item["address"].as_str() else {
                        continue;
                    };
                    let labels = vec![
                        ("component", component.clone()),
                        ("address", address.to_string()),
                    ];
                    for (inner, v) in item.as_object().into_iter().flatten() {
                        let inner_name = format!("{name}_{}", snake(inner));
                        if let Some(v) = number(v) {
                            samples.push((inner_name, labels.clone(), v));
                        } else if let Value::Object(counts) = v {
                            // One level deeper (a contract's `passedOver` counts).
                            for (leaf, v) in counts {
                                if let Some(v) = number(v) {
                                    let leaf_name = format!("{inner_name}_{}", snake(leaf));
                                    samples.push((leaf_name, labels.clone(), v));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    let mut last = "";
    for (name, labels, value) in &samples {
        if name != last {
            let _ = writeln!(out, "# TYPE {name} gauge");
            last = name;
        }
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
    out
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// `eventsDelivered` → `events_delivered`; anything outside `[a-z0-9_]` becomes `_`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_become_gauges_named_by_kind_and_field() {
        let mut statuses = BTreeMap::new();
        statuses.insert(
            "ethereum/1".to_string(),
            json!({
                "kind": "ethereum", "chainId": 1, "rpc": "https://a.example", "healthy": true,
                "eventsDelivered": 1234, "lastError": null,
                "contracts": [{"address": "0xab", "mirror": "m", "deliveredThrough": 90, "behind": 10}],
            }),
        );
        statuses.insert("odd\"one".to_string(), json!({"up": false}));
        statuses.insert(
            "solana/devnet".to_string(),
            json!({
                "kind": "solana", "healthy": true,
                "contracts": [{"address": "Gw", "passedOver": {"failedTransactions": 2, "last": "x"}}],
            }),
        );
        let text = render(
            &statuses,
            3,
            vec![(
                "aolink_deliveries".into(),
                vec![("state", "dead".into())],
                2.0,
            )],
        );
        for line in [
            "# TYPE aolink_up gauge\naolink_up 1\n",
            "aolink_ethereum_chain_id{component=\"ethereum/1\"} 1\n",
            "aolink_ethereum_healthy{component=\"ethereum/1\"} 1\n",
            "aolink_ethereum_events_delivered{component=\"ethereum/1\"} 1234\n",
            "# TYPE aolink_ethereum_contracts_behind gauge\n",
            "aolink_ethereum_contracts_behind{component=\"ethereum/1\",address=\"0xab\"} 10\n",
            "aolink_ethereum_contracts_delivered_through{component=\"ethereum/1\",address=\"0xab\"} 90\n",
            "aolink_component_up{component=\"odd\\\"one\"} 0\n",
            "aolink_solana_contracts_passed_over_failed_transactions{component=\"solana/devnet\",address=\"Gw\"} 2\n",
            "aolink_unrouted_chain_calls 3\n",
            "aolink_deliveries{state=\"dead\"} 2\n",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
        // Strings and nulls are not samples.
        assert!(!text.contains("rpc") && !text.contains("last_error") && !text.contains("mirror"));
        // One TYPE line per metric.
        assert_eq!(text.matches("# TYPE aolink_ethereum_healthy ").count(), 1);
    }
}
