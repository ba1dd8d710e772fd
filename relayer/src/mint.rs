//! `aolink mint`: what the fair-launch mint owes, computed exactly as the `bridge@1.0` device
//! does, so operators and bridgers can check their numbers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use aolink_devices::mint::{self, Rate};
use aolink_devices::split::largest_remainder;
use num_bigint::BigUint;
use serde_json::Value;

#[derive(clap::Subcommand)]
pub enum MintCommand {
    /// Print the total minted after N periods of 300 s, in armstrongs.
    Schedule {
        /// Periods since T0.
        #[arg(long)]
        periods: u64,
        /// The rate: `site` (1647321875/10^15, the AO site's) or `halving` (exact 4-year).
        #[arg(long, default_value = "site")]
        rate: String,
    },
    /// Split an amount over integer weights by largest remainder (the parts sum to the
    /// amount exactly) and print {key: amount} as decimal strings.
    Split {
        /// The amount to split (a whole number of any size).
        #[arg(long)]
        amount: String,
        /// A JSON object of key → weight (a decimal string, or a JSON integer).
        #[arg(long)]
        weights: PathBuf,
    },
}

fn whole(text: &str, what: &str) -> Result<BigUint> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{what}: {text:?} is not a non-negative whole number");
    }
    BigUint::parse_bytes(text.as_bytes(), 10)
        .with_context(|| format!("{what}: {text:?} is not a whole number"))
}

pub fn run(command: &MintCommand) -> Result<()> {
    match command {
        MintCommand::Schedule { periods, rate } => {
            let rate = Rate::by_name(rate)
                .with_context(|| format!("--rate: {rate:?} is not site or halving"))?;
            println!("{}", mint::schedule(*periods, rate));
        }
        MintCommand::Split { amount, weights } => {
            let pool = whole(amount, "--amount")?;
            let text = std::fs::read_to_string(weights)
                .with_context(|| format!("reading {}", weights.display()))?;
            let parsed: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", weights.display()))?;
            let Value::Object(map) = parsed else {
                bail!(
                    "{}: expected a JSON object of key → weight",
                    weights.display()
                );
            };
            if map.is_empty() {
                bail!("{}: no weights", weights.display());
            }
            let mut w = BTreeMap::new();
            for (key, value) in map {
                let text = match &value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) if n.is_u64() => n.to_string(),
                    other => bail!(
                        "weight of {key:?}: {other} is not a whole number (use a decimal string)"
                    ),
                };
                w.insert(key.clone(), whole(&text, &format!("weight of {key:?}"))?);
            }
            let parts = largest_remainder(&pool, &w)
                .with_context(|| format!("{}: every weight is zero", weights.display()))?;
            let out: BTreeMap<String, String> =
                parts.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}
