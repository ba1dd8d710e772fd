//! Signer sets and the quorum: which signatures of an answer count, checked against the set
//! of their epoch before any is used.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use aolink_node::attest::sign::{recover_address, signed_bytes, verify_ed25519};
use aolink_primitives::answer::{Answer, Attestation, Family};
use serde::Deserialize;

/// `[[attest.sets]]`: one epoch's signer set for one chain family.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// `ethereum` or `solana`.
    pub family: Family,
    /// The epoch (the gateway's; 0 for the set it was deployed with).
    pub epoch: u64,
    /// How many distinct members must sign.
    pub threshold: usize,
    /// The members: `0x` addresses (Ethereum) or base58 public keys (Solana).
    pub signers: Vec<String>,
}

/// The known signer sets, by family and epoch.
#[derive(Clone, Debug, Default)]
pub struct SignerSets {
    sets: BTreeMap<(Family, u64), SetConfig>,
}

fn normalise(family: Family, signer: &str) -> String {
    match family {
        Family::Ethereum => signer.to_ascii_lowercase(),
        Family::Solana => signer.to_string(),
    }
}

impl SignerSets {
    /// Checks the configured sets (`attest.sets[i]` in errors).
    pub fn new(configs: Vec<SetConfig>) -> Result<SignerSets> {
        let mut sets = BTreeMap::new();
        for (i, mut set) in configs.into_iter().enumerate() {
            let at = format!("attest.sets[{i}]");
            if set.signers.is_empty() {
                bail!("{at}.signers: no signers");
            }
            if set.threshold == 0 || set.threshold > set.signers.len() {
                bail!(
                    "{at}.threshold: {} is not 1 to the {} signers",
                    set.threshold,
                    set.signers.len()
                );
            }
            for (j, signer) in set.signers.iter_mut().enumerate() {
                let ok = match set.family {
                    Family::Ethereum => {
                        signer.len() == 42
                            && signer.starts_with("0x")
                            && signer[2..].bytes().all(|b| b.is_ascii_hexdigit())
                    }
                    Family::Solana => bs58::decode(&*signer)
                        .into_vec()
                        .is_ok_and(|k| k.len() == 32),
                };
                if !ok {
                    bail!(
                        "{at}.signers[{j}]: {signer:?} is not a signer of the {:?} family",
                        set.family
                    );
                }
                *signer = normalise(set.family, signer);
            }
            if sets.insert((set.family, set.epoch), set).is_some() {
                bail!("{at}: a set for this family and epoch is configured twice");
            }
        }
        Ok(SignerSets { sets })
    }

    /// The set of `family` for `epoch`.
    pub fn get(&self, family: Family, epoch: u64) -> Option<&SetConfig> {
        self.sets.get(&(family, epoch))
    }
}

/// Why one signature does not count.
pub fn check(attestation: &Attestation, ours: &Answer, set: &SetConfig) -> Result<(), String> {
    if attestation.id != ours.id() {
        return Err(format!("it is for answer {}", attestation.id));
    }
    if attestation.epoch != set.epoch {
        return Err(format!(
            "it is for epoch {}, the set is {}",
            attestation.epoch, set.epoch
        ));
    }
    let payload = ours.payload(set.epoch).map_err(|e| e.to_string())?;
    let theirs = attestation
        .answer
        .payload(set.epoch)
        .map_err(|e| format!("its answer: {e}"))?;
    if theirs != payload {
        return Err("its signer computed another answer to this request".into());
    }
    let signer = normalise(set.family, &attestation.signer);
    if !set.signers.contains(&signer) {
        return Err(format!("{signer} is not in epoch {}'s set", set.epoch));
    }
    let data = ours.data_bytes().map_err(|e| e.to_string())?;
    let bytes = signed_bytes(&payload, &data).map_err(|e| e.to_string())?;
    let signature = attestation.signature_bytes().map_err(|e| e.to_string())?;
    match set.family {
        Family::Ethereum => {
            let digest: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| "the digest is not 32 bytes".to_string())?;
            let recovered = recover_address(&digest, &signature).map_err(|e| e.to_string())?;
            if recovered != signer {
                return Err(format!("the signature is by {recovered}, not {signer}"));
            }
        }
        Family::Solana => {
            let key: [u8; 32] = bs58::decode(&signer)
                .into_vec()
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| format!("{signer} is not a public key"))?;
            verify_ed25519(&key, &bytes, &signature).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The first `threshold` valid signatures by distinct members, in the order the chain wants
/// them (ascending address on Ethereum), or `None` when there are not enough.
pub fn quorum(
    candidates: &[Attestation],
    ours: &Answer,
    set: &SetConfig,
) -> Option<Vec<Attestation>> {
    let mut valid: BTreeMap<String, Attestation> = BTreeMap::new();
    for a in candidates {
        match check(a, ours, set) {
            Ok(()) => {
                valid
                    .entry(normalise(set.family, &a.signer))
                    .or_insert_with(|| a.clone());
            }
            Err(reason) => {
                tracing::warn!(id = %a.id, signer = %a.signer, %reason, "signature not counted");
            }
        }
    }
    (valid.len() >= set.threshold).then(|| valid.into_values().take(set.threshold).collect())
}
