//! Signer sets and the quorum: which signatures of an answer count, checked against the set
//! of their epoch before any is used.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use aolink_node::attest::sign::{recover_address, signed_bytes, verify_ed25519};
use aolink_primitives::answer::{Answer, Attestation, Ed25519SignerSet, Family};
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

    /// The Solana sets as a verifier of delivering transactions takes them.
    pub fn ed25519(&self) -> Vec<Ed25519SignerSet> {
        self.sets
            .values()
            .filter(|set| set.family == Family::Solana)
            .map(|set| Ed25519SignerSet {
                epoch: set.epoch,
                // Checked base58 keys of 32 bytes when the sets were read.
                members: set
                    .signers
                    .iter()
                    .filter_map(|s| bs58::decode(s).into_vec().ok()?.try_into().ok())
                    .collect(),
                threshold: set.threshold,
            })
            .collect()
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

/// Why the signatures at hand are no quorum: how many counted, and why the others did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// Valid signatures by distinct members.
    pub valid: usize,
    /// The threshold.
    pub need: usize,
    /// Each signature not counted: its signer and why.
    pub rejected: Vec<String>,
}

/// The first `threshold` valid signatures by distinct members, in the order the chain wants
/// them (ascending address on Ethereum), or why there are not enough.
pub fn quorum(
    candidates: &[Attestation],
    ours: &Answer,
    set: &SetConfig,
) -> Result<Vec<Attestation>, Shortfall> {
    let mut valid: BTreeMap<String, Attestation> = BTreeMap::new();
    let mut rejected = Vec::new();
    for a in candidates {
        match check(a, ours, set) {
            Ok(()) => {
                valid
                    .entry(normalise(set.family, &a.signer))
                    .or_insert_with(|| a.clone());
            }
            Err(reason) => {
                tracing::warn!(id = %a.id, signer = %a.signer, %reason, "signature not counted");
                rejected.push(format!("{}: {reason}", a.signer));
            }
        }
    }
    if valid.len() >= set.threshold {
        Ok(valid.into_values().take(set.threshold).collect())
    } else {
        Err(Shortfall {
            valid: valid.len(),
            need: set.threshold,
            rejected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aolink_node::attest::AttestKeys;

    fn answer(chain: &str) -> Answer {
        let solana = chain.starts_with("solana:");
        let key = |b: u8| bs58::encode([b; 32]).into_string();
        let sig = bs58::encode([9u8; 64]).into_string();
        Answer {
            chain_id: chain.into(),
            gateway: if solana {
                key(1)
            } else {
                "0x5fbdb2315678afecb367f032d93f642f64180aa3".into()
            },
            target: if solana {
                key(2)
            } else {
                "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512".into()
            },
            request_id: if solana {
                format!("{sig}:0")
            } else {
                "1".into()
            },
            request_tx: if solana { sig } else { "0x01".into() },
            process: aolink_node::ans104::b64url_encode(&[3; 32]),
            requested_process: aolink_node::ans104::b64url_encode(&[3; 32]),
            message: "m".into(),
            mirror: "r".into(),
            slot: 4,
            data: "forty-two".into(),
            data_encoding: None,
            tags: vec![("Action".into(), "Answer".into())],
        }
    }

    fn keys(secret: u8) -> AttestKeys {
        AttestKeys::none()
            .with_ethereum(&[secret; 32], "test")
            .unwrap()
            .with_solana(&[secret; 32])
    }

    fn attest(secret: u8, answer: &Answer, epoch: u64) -> Attestation {
        let payload = answer.payload(epoch).unwrap();
        let bytes = signed_bytes(&payload, &answer.data_bytes().unwrap()).unwrap();
        let (signer, sig) = keys(secret).sign(answer.family(), &bytes).unwrap();
        Attestation {
            id: answer.id(),
            epoch,
            signer,
            signature: format!("0x{}", hex::encode(sig)),
            answer: answer.clone(),
        }
    }

    fn set(family: Family, members: &[u8]) -> SetConfig {
        let signers = members
            .iter()
            .map(|m| match family {
                Family::Ethereum => keys(*m).ethereum_address().unwrap(),
                Family::Solana => keys(*m).solana_public().unwrap(),
            })
            .collect();
        SignerSets::new(vec![SetConfig {
            family,
            epoch: 0,
            threshold: 2,
            signers,
        }])
        .unwrap()
        .get(family, 0)
        .unwrap()
        .clone()
    }

    #[test]
    fn two_of_three_make_a_quorum_ordered_by_address() {
        let ours = answer("31337");
        let set = set(Family::Ethereum, &[1, 2, 3]);
        let all = [
            attest(3, &ours, 0),
            attest(1, &ours, 0),
            attest(2, &ours, 0),
        ];
        let q = quorum(&all, &ours, &set).unwrap();
        assert_eq!(q.len(), 2);
        assert!(q[0].signer < q[1].signer, "ascending signer order");
    }

    #[test]
    fn forged_stale_changed_and_repeated_signatures_do_not_count() {
        let ours = answer("31337");
        let set = set(Family::Ethereum, &[1, 2, 3]);
        let one = attest(1, &ours, 0);
        // An outsider's key.
        assert!(
            check(&attest(9, &ours, 0), &ours, &set)
                .unwrap_err()
                .contains("not in")
        );
        // Another epoch.
        assert!(
            check(&attest(2, &ours, 1), &ours, &set)
                .unwrap_err()
                .contains("epoch")
        );
        // A peer that computed another answer.
        let mut other = ours.clone();
        other.data = "forty-three".into();
        assert!(
            check(&attest(2, &other, 0), &ours, &set)
                .unwrap_err()
                .contains("another answer")
        );
        // A signature over other data, claimed for ours.
        let mut lying = attest(2, &other, 0);
        lying.answer = ours.clone();
        assert!(check(&lying, &ours, &set).unwrap_err().contains("not"));
        // The same member twice is one signature.
        assert_eq!(
            quorum(&[one.clone(), one.clone()], &ours, &set)
                .unwrap_err()
                .valid,
            1
        );
        let short = quorum(&[one, lying], &ours, &set).unwrap_err();
        assert_eq!((short.valid, short.need, short.rejected.len()), (1, 2, 1));
    }

    #[test]
    fn solana_signatures_are_checked_over_the_payload() {
        let ours = answer("solana:devnet");
        let set = set(Family::Solana, &[1, 2, 3]);
        let good = [attest(1, &ours, 0), attest(2, &ours, 0)];
        assert_eq!(quorum(&good, &ours, &set).unwrap().len(), 2);
        let mut forged = attest(2, &ours, 0);
        forged.signature = attest(1, &ours, 0).signature;
        assert!(check(&forged, &ours, &set).is_err());
    }

    #[test]
    fn bad_sets_are_named() {
        let bad = |set: SetConfig| format!("{:#}", SignerSets::new(vec![set]).unwrap_err());
        let base = SetConfig {
            family: Family::Ethereum,
            epoch: 0,
            threshold: 2,
            signers: vec!["0x5fbdb2315678afecb367f032d93f642f64180aa3".into()],
        };
        assert!(bad(base.clone()).contains("attest.sets[0].threshold"));
        let mut wrong = base.clone();
        wrong.threshold = 1;
        wrong.signers = vec!["nope".into()];
        assert!(bad(wrong).contains("attest.sets[0].signers[0]"));
    }
}
