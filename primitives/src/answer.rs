//! Answers: what an AO process says back to a dApp that called it through a chain gateway, and
//! the bytes the node's signers attest to it with.
//!
//! A gateway's mirror forwards each dApp call (an Ethereum `RequestSent`, a Solana memo call)
//! to the process it names, and accepts one reply per call from that process (an aos
//! `msg.reply`, which carries the call's `Reference` back as `X-Reference`). The accepted reply
//! is an [`Answer`], in the mirror's result. Signers then attest the answer's [`AnswerPayload`]:
//! the fields every honest node computes alike from the same chain and the same process, so
//! that several independently scheduled nodes sign the same bytes and a quorum can form. The
//! node-local provenance (the answer's message id and the mirror's slot, which differ from
//! node to node because each node signs its own messages) travels beside the signatures.
//!
//! For Ethereum the payload is an EIP-712 struct (built in the node with alloy). For Solana it
//! is [`SolanaPayload`]'s fixed layout, signed with ed25519 and checked on chain by the native
//! Ed25519 program; [`verify_ed25519_quorum`] is what a Solana program runs over that program's
//! instruction (read through the instructions sysvar) to count a quorum of its signer set.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

/// Tags of an answering message that belong to the AO envelope, not to the answer: they are
/// set per hop by the sending node (its own message ids, counters), so two honest nodes give
/// them different values. The answer's own tags are the rest, in order.
pub const ENVELOPE_TAGS: [&str; 9] = [
    "Data-Protocol",
    "Variant",
    "Type",
    "From-Process",
    "From-Module",
    "Pushed-For",
    "Reference",
    "X-Reference",
    "X-Origin",
];

/// The answer a gateway's mirror accepted: the `answer` field of the mirror's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Answer {
    /// The chain: a decimal EVM chain id, or `solana:<cluster>`.
    pub chain_id: String,
    /// The gateway: the `AOGateway` contract (`0x`, lower case) or the Solana gateway address.
    pub gateway: String,
    /// Who made the request and receives the answer: the calling contract or account, or the
    /// Solana memo's signer.
    pub target: String,
    /// The request on its chain: the gateway's request number on EVM chains,
    /// `<signature>:<instruction index>` on Solana.
    pub request_id: String,
    /// The transaction that made the request.
    pub request_tx: String,
    /// The process that answered (the one the request named, or an allowed answerer).
    pub process: String,
    /// The process the request named.
    pub requested_process: String,
    /// The answering message's id in this node (provenance; differs between nodes).
    pub message: String,
    /// The mirror process.
    pub mirror: String,
    /// The mirror's slot that took the answer (provenance; differs between nodes).
    pub slot: u64,
    /// The answer's data as the message carried it.
    pub data: String,
    /// `hex` when the answer's data is hex for binary bytes (as the process said with a
    /// `Data-Encoding: hex` tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_encoding: Option<String>,
    /// The answer's own tags, in order (the envelope's left out: [`ENVELOPE_TAGS`]).
    pub tags: Vec<(String, String)>,
}

/// Why an answer cannot be attested or delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// A field does not decode for its chain.
    #[error("answer field {field}: {reason}")]
    Field {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

fn field(field: &'static str, reason: impl Into<String>) -> AnswerError {
    AnswerError::Field {
        field,
        reason: reason.into(),
    }
}

/// The chain family an answer goes back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// EVM chains: EIP-712 secp256k1 signatures checked by `AOGateway.deliver`.
    Ethereum,
    /// Solana: ed25519 signatures checked by the native Ed25519 program.
    Solana,
}

impl Family {
    /// The family of a `Chain-Id` value.
    pub fn of(chain_id: &str) -> Family {
        if chain_id.starts_with("solana:") {
            Family::Solana
        } else {
            Family::Ethereum
        }
    }
}

/// The identity of the request an answer answers, the same on every node: the attestation's
/// id (`GET /attestations/{id}`), and the key of the never-sign-twice guard.
pub fn answer_id(chain_id: &str, gateway: &str, request_id: &str) -> String {
    let mut h = Sha256::new();
    for part in ["aolink:answer:v1", chain_id, gateway, request_id] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// keccak256 of `bytes`.
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

impl Answer {
    /// The attestation id of this answer: see [`answer_id`].
    pub fn id(&self) -> String {
        answer_id(&self.chain_id, &self.gateway, &self.request_id)
    }

    /// The chain family the answer goes back to.
    pub fn family(&self) -> Family {
        Family::of(&self.chain_id)
    }

    /// The answer's data as bytes: hex-decoded when it is hex, its text's bytes otherwise.
    pub fn data_bytes(&self) -> Result<Vec<u8>, AnswerError> {
        data_bytes(&self.data, self.data_encoding.as_deref())
    }

    /// The answering process's id as its 32 bytes.
    pub fn process_bytes(&self) -> Result<[u8; 32], AnswerError> {
        crate::ans104::b64url_decode_32(&self.process, "process")
            .map_err(|e| field("process", e.to_string()))
    }

    /// `keccak256(abi.encode(string[] names, string[] values))` of the answer's own tags, as a
    /// Solidity contract computes it: the `tagsHash` every payload carries.
    pub fn tags_hash(&self) -> [u8; 32] {
        tags_hash(&self.tags)
    }

    /// The chain-independent part of what is signed.
    pub fn payload(&self, epoch: u64) -> Result<AnswerPayload, AnswerError> {
        Ok(AnswerPayload {
            chain_id: self.chain_id.clone(),
            gateway: self.gateway.clone(),
            target: self.target.clone(),
            request_id: self.request_id.clone(),
            process: self.process_bytes()?,
            data_hash: keccak256(&self.data_bytes()?),
            tags_hash: self.tags_hash(),
            epoch,
        })
    }
}

/// An answer's data as bytes: hex-decoded when `encoding` is `hex`, the text's bytes otherwise.
fn data_bytes(data: &str, encoding: Option<&str>) -> Result<Vec<u8>, AnswerError> {
    match encoding {
        None => Ok(data.as_bytes().to_vec()),
        Some("hex") => {
            let text = data.strip_prefix("0x").unwrap_or(data);
            hex::decode(text).map_err(|e| field("data", format!("not hex: {e}")))
        }
        Some(other) => Err(field(
            "dataEncoding",
            format!("{other:?} is not a data encoding (only hex)"),
        )),
    }
}

/// See [`Answer::tags_hash`].
fn tags_hash(tags: &[(String, String)]) -> [u8; 32] {
    keccak256(&abi_encode_string_arrays(tags))
}

/// Solidity's `abi.encode(string[] names, string[] values)` of (name, value) pairs. Written out
/// because the primitives carry no ABI library; the node's tests compare it with alloy's.
fn abi_encode_string_arrays(pairs: &[(String, String)]) -> Vec<u8> {
    fn word(n: usize) -> [u8; 32] {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&(n as u64).to_be_bytes());
        w
    }
    fn string_array<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> Vec<u8> {
        let items: Vec<&str> = items.collect();
        let mut heads = Vec::new();
        let mut tails = Vec::new();
        let head_len = 32 * items.len();
        for item in &items {
            heads.extend_from_slice(&word(head_len + tails.len()));
            tails.extend_from_slice(&word(item.len()));
            tails.extend_from_slice(item.as_bytes());
            let pad = (32 - item.len() % 32) % 32;
            tails.extend(std::iter::repeat_n(0u8, pad));
        }
        let mut out = word(items.len()).to_vec();
        out.extend(heads);
        out.extend(tails);
        out
    }
    let names = string_array(pairs.iter().map(|(n, _)| n.as_str()));
    let values = string_array(pairs.iter().map(|(_, v)| v.as_str()));
    let mut out = Vec::with_capacity(64 + names.len() + values.len());
    out.extend_from_slice(&word(64));
    out.extend_from_slice(&word(64 + names.len()));
    out.extend(names);
    out.extend(values);
    out
}

/// What a signer attests for an answer, whatever the chain: every field the same on every
/// honest node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnswerPayload {
    /// The chain (`Chain-Id`).
    pub chain_id: String,
    /// The gateway contract or address.
    pub gateway: String,
    /// The dApp the answer goes to.
    pub target: String,
    /// The request answered.
    pub request_id: String,
    /// The answering process.
    #[serde(with = "hex32")]
    pub process: [u8; 32],
    /// keccak256 of the answer's data bytes.
    #[serde(with = "hex32")]
    pub data_hash: [u8; 32],
    /// See [`Answer::tags_hash`].
    #[serde(with = "hex32")]
    pub tags_hash: [u8; 32],
    /// The signer set's epoch.
    pub epoch: u64,
}

/// One signer's attestation of an answer: what `GET /attestations/{id}` serves and what peers
/// collect into a quorum. The payload is recomputed from `answer` and `epoch` by whoever checks
/// the signature, so nothing here is taken on trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attestation {
    /// The answer's id ([`answer_id`]).
    pub id: String,
    /// The signer set's epoch the signature was made for.
    pub epoch: u64,
    /// The signer: a `0x` address (Ethereum) or a base58 public key (Solana).
    pub signer: String,
    /// The signature, `0x` hex: 65 bytes `r ‖ s ‖ v` (Ethereum) or 64 bytes (ed25519).
    pub signature: String,
    /// The answer signed.
    pub answer: Answer,
}

impl Attestation {
    /// The signature's bytes.
    pub fn signature_bytes(&self) -> Result<Vec<u8>, AnswerError> {
        hex::decode(self.signature.strip_prefix("0x").unwrap_or(&self.signature))
            .map_err(|e| field("signature", format!("not hex: {e}")))
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes =
            hex::decode(text.strip_prefix("0x").unwrap_or(&text)).map_err(D::Error::custom)?;
        <[u8; 32]>::try_from(bytes).map_err(|_| D::Error::custom("expected 32 bytes"))
    }
}

/// The magic that opens every Solana answer payload: the domain and the version.
pub const SOLANA_PAYLOAD_MAGIC: &[u8; 16] = b"aolink:answer:v1";

/// The longest chain id a Solana payload carries (`solana:` and a 32-character cluster name).
const MAX_CHAIN_ID: usize = 64;

/// The Solana answer payload's fixed layout, what the signers' ed25519 signatures cover:
///
/// | bytes | field |
/// |---|---|
/// | 16 | `aolink:answer:v1` |
/// | 8 | epoch, u64 little-endian |
/// | 32 | gateway address |
/// | 32 | target (the request's sender) |
/// | 64 | the request's transaction signature |
/// | 4 | the request's instruction index, u32 little-endian |
/// | 32 | the answering process id |
/// | 32 | keccak256 of the answer's data |
/// | 32 | the tags hash ([`Answer::tags_hash`]) |
/// | 1 + n | the chain id's length and its UTF-8 bytes (`solana:<cluster>`, n ≤ 64) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolanaPayload {
    /// The signer set's epoch.
    pub epoch: u64,
    /// The gateway address.
    pub gateway: [u8; 32],
    /// The dApp the answer goes to.
    pub target: [u8; 32],
    /// The request's transaction signature.
    pub request_signature: [u8; 64],
    /// The request's instruction index.
    pub request_index: u32,
    /// The answering process id.
    pub process: [u8; 32],
    /// keccak256 of the answer's data.
    pub data_hash: [u8; 32],
    /// The tags hash.
    pub tags_hash: [u8; 32],
    /// `solana:<cluster>`.
    pub chain_id: String,
}

/// The length of a Solana payload without its chain id.
const SOLANA_FIXED: usize = 16 + 8 + 32 + 32 + 64 + 4 + 32 + 32 + 32 + 1;

fn base58_32(text: &str, name: &'static str) -> Result<[u8; 32], AnswerError> {
    let bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| field(name, format!("{text:?} is not base58: {e}")))?;
    <[u8; 32]>::try_from(bytes).map_err(|_| field(name, format!("{text:?} is not 32 bytes")))
}

impl SolanaPayload {
    /// The Solana payload of `payload`.
    pub fn from_payload(payload: &AnswerPayload) -> Result<SolanaPayload, AnswerError> {
        if Family::of(&payload.chain_id) != Family::Solana {
            return Err(field(
                "chainId",
                format!("{} is not a Solana chain", payload.chain_id),
            ));
        }
        if payload.chain_id.len() > MAX_CHAIN_ID {
            return Err(field(
                "chainId",
                format!("longer than {MAX_CHAIN_ID} bytes"),
            ));
        }
        let (signature, index) = payload
            .request_id
            .rsplit_once(':')
            .ok_or_else(|| field("requestId", "not <signature>:<index>"))?;
        let request_signature = bs58::decode(signature)
            .into_vec()
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or_else(|| field("requestId", format!("{signature:?} is not a signature")))?;
        let request_index = index.parse().map_err(|_| {
            field(
                "requestId",
                format!("{index:?} is not an instruction index"),
            )
        })?;
        Ok(SolanaPayload {
            epoch: payload.epoch,
            gateway: base58_32(&payload.gateway, "gateway")?,
            target: base58_32(&payload.target, "target")?,
            request_signature,
            request_index,
            process: payload.process,
            data_hash: payload.data_hash,
            tags_hash: payload.tags_hash,
            chain_id: payload.chain_id.clone(),
        })
    }

    /// The bytes the signers sign.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SOLANA_FIXED + self.chain_id.len());
        out.extend_from_slice(SOLANA_PAYLOAD_MAGIC);
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.gateway);
        out.extend_from_slice(&self.target);
        out.extend_from_slice(&self.request_signature);
        out.extend_from_slice(&self.request_index.to_le_bytes());
        out.extend_from_slice(&self.process);
        out.extend_from_slice(&self.data_hash);
        out.extend_from_slice(&self.tags_hash);
        // The chain id is at most 64 bytes (checked where the payload is made).
        out.push(self.chain_id.len().min(MAX_CHAIN_ID) as u8);
        out.extend_from_slice(&self.chain_id.as_bytes()[..self.chain_id.len().min(MAX_CHAIN_ID)]);
        out
    }

    /// The id of the answer this payload is for ([`answer_id`]), from its own fields.
    pub fn answer_id(&self) -> String {
        let request = format!(
            "{}:{}",
            bs58::encode(self.request_signature).into_string(),
            self.request_index
        );
        answer_id(
            &self.chain_id,
            &bs58::encode(self.gateway).into_string(),
            &request,
        )
    }

    /// Reads a payload back, refusing anything but the exact layout.
    pub fn decode(bytes: &[u8]) -> Result<SolanaPayload, VerifyError> {
        let bad = |why: &str| VerifyError::Payload(why.to_string());
        if bytes.len() < SOLANA_FIXED || &bytes[..16] != SOLANA_PAYLOAD_MAGIC {
            return Err(bad("not an aolink:answer:v1 payload"));
        }
        let mut at = 16;
        let mut take = |n: usize| {
            let part = &bytes[at..at + n];
            at += n;
            part
        };
        let epoch = u64::from_le_bytes(take(8).try_into().map_err(|_| bad("epoch"))?);
        let gateway = take(32).try_into().map_err(|_| bad("gateway"))?;
        let target = take(32).try_into().map_err(|_| bad("target"))?;
        let request_signature = take(64).try_into().map_err(|_| bad("signature"))?;
        let request_index = u32::from_le_bytes(take(4).try_into().map_err(|_| bad("index"))?);
        let process = take(32).try_into().map_err(|_| bad("process"))?;
        let data_hash = take(32).try_into().map_err(|_| bad("data hash"))?;
        let tags_hash = take(32).try_into().map_err(|_| bad("tags hash"))?;
        let len = usize::from(take(1)[0]);
        if len > MAX_CHAIN_ID || bytes.len() != SOLANA_FIXED + len {
            return Err(bad("the chain id's length does not match the payload's"));
        }
        let chain_id = std::str::from_utf8(&bytes[SOLANA_FIXED..])
            .map_err(|_| bad("the chain id is not UTF-8"))?
            .to_string();
        Ok(SolanaPayload {
            epoch,
            gateway,
            target,
            request_signature,
            request_index,
            process,
            data_hash,
            tags_hash,
            chain_id,
        })
    }
}

/// What opens the memo of a Solana delivery: the domain, the version, then the answer's id.
pub const SOLANA_ANSWER_MEMO_PREFIX: &str = "aolink:answer:v1:";

/// The memo a Solana delivery carries to the dApp beside the Ed25519 instruction: the answer's
/// data and tags, which the signed payload covers only by their hashes. Its text is
/// `aolink:answer:v1:<answer id>:` followed by the JSON object
/// `{"data": "...", "dataEncoding": "hex", "tags": [["Name", "value"], ...]}`
/// (`dataEncoding` only for binary data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnswerMemo {
    /// The answer's id ([`answer_id`]); not part of the JSON.
    #[serde(skip)]
    pub id: String,
    /// The answer's data as the process wrote it.
    pub data: String,
    /// `hex` when `data` is hex for binary bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_encoding: Option<String>,
    /// The answer's own tags, in order.
    pub tags: Vec<(String, String)>,
}

impl AnswerMemo {
    /// The memo delivering `answer`.
    pub fn of(answer: &Answer) -> AnswerMemo {
        AnswerMemo {
            id: answer.id(),
            data: answer.data.clone(),
            data_encoding: answer.data_encoding.clone(),
            tags: answer.tags.clone(),
        }
    }

    /// The memo's text.
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{SOLANA_ANSWER_MEMO_PREFIX}{}:{json}", self.id)
    }

    /// Reads a memo's text back.
    pub fn decode(text: &str) -> Result<AnswerMemo, VerifyError> {
        let bad = |why: String| VerifyError::Memo(why);
        let rest = text
            .strip_prefix(SOLANA_ANSWER_MEMO_PREFIX)
            .ok_or_else(|| bad(format!("does not start with {SOLANA_ANSWER_MEMO_PREFIX}")))?;
        let (id, json) = rest
            .split_once(':')
            .ok_or_else(|| bad("no ':' after the answer id".into()))?;
        let mut memo: AnswerMemo =
            serde_json::from_str(json).map_err(|e| bad(format!("its JSON: {e}")))?;
        memo.id = id.to_string();
        Ok(memo)
    }

    /// The data's bytes.
    pub fn data_bytes(&self) -> Result<Vec<u8>, VerifyError> {
        data_bytes(&self.data, self.data_encoding.as_deref())
            .map_err(|e| VerifyError::Memo(e.to_string()))
    }

    /// Checks that this memo is what `payload` signed: its data and tags hash to the payload's,
    /// and its id is the payload's request's.
    pub fn check(&self, payload: &SolanaPayload) -> Result<(), VerifyError> {
        if keccak256(&self.data_bytes()?) != payload.data_hash {
            return Err(VerifyError::Memo(
                "its data does not hash to the signed dataHash".into(),
            ));
        }
        if tags_hash(&self.tags) != payload.tags_hash {
            return Err(VerifyError::Memo(
                "its tags do not hash to the signed tagsHash".into(),
            ));
        }
        if self.id != payload.answer_id() {
            return Err(VerifyError::Memo(
                "its answer id is not the signed request's".into(),
            ));
        }
        Ok(())
    }
}

/// The native Ed25519 signature-verification program.
pub const ED25519_PROGRAM: &str = "Ed25519SigVerify111111111111111111111111111";

/// The native program's "this instruction" marker in an offsets entry.
const THIS_INSTRUCTION: u16 = u16::MAX;

/// One offsets entry of the Ed25519 program's instruction: 7 little-endian u16.
const OFFSETS_LEN: usize = 14;

/// The data of one Ed25519-program instruction that verifies every `(public key, signature)`
/// over the same `message`: the offsets, then each key and signature, then the message once.
pub fn ed25519_instruction_data(message: &[u8], signatures: &[([u8; 32], [u8; 64])]) -> Vec<u8> {
    let header = 2 + OFFSETS_LEN * signatures.len();
    let message_at = header + 96 * signatures.len();
    let mut out = Vec::with_capacity(message_at + message.len());
    out.push(signatures.len() as u8);
    out.push(0);
    for i in 0..signatures.len() {
        let key_at = header + 96 * i;
        for value in [
            (key_at + 32) as u16,
            THIS_INSTRUCTION,
            key_at as u16,
            THIS_INSTRUCTION,
            message_at as u16,
            message.len() as u16,
            THIS_INSTRUCTION,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    for (key, signature) in signatures {
        out.extend_from_slice(key);
        out.extend_from_slice(signature);
    }
    out.extend_from_slice(message);
    out
}

/// Why an answer's signatures do not make a quorum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The instruction is not the Ed25519 program's, or is malformed.
    #[error("not an Ed25519 verification instruction: {0}")]
    Instruction(String),
    /// An entry points outside its own instruction, where the program did not check it.
    #[error("signature {0} points into another instruction")]
    Elsewhere(usize),
    /// An entry covers other bytes than the payload.
    #[error("signature {0} does not cover the answer payload")]
    OtherMessage(usize),
    /// The payload does not decode.
    #[error("answer payload: {0}")]
    Payload(String),
    /// The delivery's memo does not decode or does not match the payload.
    #[error("answer memo: {0}")]
    Memo(String),
    /// The payload names another epoch than the set given.
    #[error("payload epoch {payload} is not the signer set's epoch {set}")]
    Epoch {
        /// The payload's epoch.
        payload: u64,
        /// The set's.
        set: u64,
    },
    /// A signer is not in the set.
    #[error("signature {0} is by a key outside the signer set")]
    Outsider(usize),
    /// The same key signed twice.
    #[error("signature {0} repeats a signer")]
    Duplicate(usize),
    /// Fewer distinct members signed than the threshold.
    #[error("{got} of the signer set signed, {need} needed")]
    Quorum {
        /// Distinct members that signed.
        got: usize,
        /// The threshold.
        need: usize,
    },
}

/// A signer set as a verifier knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519SignerSet {
    /// Its epoch.
    pub epoch: u64,
    /// Its members' public keys.
    pub members: Vec<[u8; 32]>,
    /// How many must sign.
    pub threshold: usize,
}

/// What a Solana program checks of an answer, given the data of the transaction's Ed25519
/// instruction (`program_id` must be [`ED25519_PROGRAM`]'s key; read both through the
/// instructions sysvar): every entry verifies a signature inside that same instruction, over
/// exactly `payload`, by a distinct member of `set`, and at least `set.threshold` of them.
/// The Ed25519 program has already checked each signature when the transaction executes.
/// Returns the decoded payload, whose fields the program then compares with the request it
/// is owed an answer for.
pub fn verify_ed25519_quorum(
    program_id: &[u8; 32],
    data: &[u8],
    set: &Ed25519SignerSet,
) -> Result<SolanaPayload, VerifyError> {
    let ed25519: [u8; 32] = bs58::decode(ED25519_PROGRAM)
        .into_vec()
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| VerifyError::Instruction("program id constant".into()))?;
    if program_id != &ed25519 {
        return Err(VerifyError::Instruction(
            "the program is not the Ed25519 program".into(),
        ));
    }
    let count = usize::from(
        *data
            .first()
            .ok_or_else(|| VerifyError::Instruction("empty".into()))?,
    );
    if count == 0 || data.len() < 2 + OFFSETS_LEN * count {
        return Err(VerifyError::Instruction(
            "no complete signature entry".into(),
        ));
    }
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([data[at], data[at + 1]]));
    let slice = |at: usize, len: usize| data.get(at..at.checked_add(len)?);
    let mut payload_bytes: Option<&[u8]> = None;
    let mut signers = Vec::with_capacity(count);
    for i in 0..count {
        let e = 2 + OFFSETS_LEN * i;
        let (sig_ix, key_at, key_ix) = (u16_at(e + 2), u16_at(e + 4), u16_at(e + 6));
        let (msg_at, msg_len, msg_ix) = (u16_at(e + 8), u16_at(e + 10), u16_at(e + 12));
        let this = usize::from(THIS_INSTRUCTION);
        if sig_ix != this || key_ix != this || msg_ix != this {
            return Err(VerifyError::Elsewhere(i));
        }
        let message = slice(msg_at, msg_len).ok_or(VerifyError::OtherMessage(i))?;
        match payload_bytes {
            None => payload_bytes = Some(message),
            Some(first) if first == message => {}
            Some(_) => return Err(VerifyError::OtherMessage(i)),
        }
        let key: [u8; 32] = slice(key_at, 32)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| VerifyError::Instruction(format!("entry {i}'s key is out of bounds")))?;
        if !set.members.contains(&key) {
            return Err(VerifyError::Outsider(i));
        }
        if signers.contains(&key) {
            return Err(VerifyError::Duplicate(i));
        }
        signers.push(key);
    }
    let payload = SolanaPayload::decode(payload_bytes.unwrap_or_default())?;
    if payload.epoch != set.epoch {
        return Err(VerifyError::Epoch {
            payload: payload.epoch,
            set: set.epoch,
        });
    }
    if signers.len() < set.threshold.max(1) {
        return Err(VerifyError::Quorum {
            got: signers.len(),
            need: set.threshold,
        });
    }
    Ok(payload)
}

/// The SPL Memo programs (v1, and v2 onwards), whose instructions carry an [`AnswerMemo`].
pub const MEMO_PROGRAMS: [&str; 2] = [
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
];

fn program_key(text: &str) -> [u8; 32] {
    bs58::decode(text)
        .into_vec()
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default()
}

/// What a Solana client checks of a transaction said to deliver an answer, given its top-level
/// instructions as `(program id, data)` in order and the signer sets it trusts: an Ed25519
/// instruction whose signatures are a quorum of the set of the payload's epoch
/// ([`verify_ed25519_quorum`]), and a memo instruction whose [`AnswerMemo`] is what that
/// payload signed. A program reads the same two instructions through the instructions sysvar.
/// Returns the payload and the memo. The transaction must also have succeeded, which is
/// when the Ed25519 program checked every signature; and a verifier that acts on an answer
/// keeps the requests it has acted on, since anyone can copy a delivery into a new transaction.
pub fn verify_answer_instructions(
    instructions: &[([u8; 32], &[u8])],
    sets: &[Ed25519SignerSet],
) -> Result<(SolanaPayload, AnswerMemo), VerifyError> {
    let ed25519 = program_key(ED25519_PROGRAM);
    let (_, data) = instructions
        .iter()
        .find(|(program, _)| *program == ed25519)
        .ok_or_else(|| VerifyError::Instruction("the transaction has none".into()))?;
    let mut verdict = Err(VerifyError::Payload(
        "no trusted signer set was given".into(),
    ));
    for set in sets {
        verdict = verify_ed25519_quorum(&ed25519, data, set);
        if !matches!(verdict, Err(VerifyError::Epoch { .. })) {
            break;
        }
    }
    let payload = verdict?;
    let memos: Vec<[u8; 32]> = MEMO_PROGRAMS.iter().map(|p| program_key(p)).collect();
    let memo = instructions
        .iter()
        .filter(|(program, _)| memos.contains(program))
        .filter_map(|(_, data)| std::str::from_utf8(data).ok())
        .find(|text| text.starts_with(SOLANA_ANSWER_MEMO_PREFIX))
        .ok_or_else(|| VerifyError::Memo("the transaction carries no answer memo".into()))?;
    let memo = AnswerMemo::decode(memo)?;
    memo.check(&payload)?;
    Ok((payload, memo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    fn answer() -> Answer {
        let sig = bs58::encode([7u8; 64]).into_string();
        Answer {
            chain_id: "solana:devnet".into(),
            gateway: bs58::encode([1u8; 32]).into_string(),
            target: bs58::encode([2u8; 32]).into_string(),
            request_id: format!("{sig}:3"),
            request_tx: sig,
            process: crate::ans104::b64url_encode(&[3u8; 32]),
            requested_process: crate::ans104::b64url_encode(&[3u8; 32]),
            message: crate::ans104::b64url_encode(&[4u8; 32]),
            mirror: crate::ans104::b64url_encode(&[5u8; 32]),
            slot: 9,
            data: "pong".into(),
            data_encoding: None,
            tags: vec![("Action".into(), "Pong".into())],
        }
    }

    #[test]
    fn the_id_is_the_request_and_nothing_node_local() {
        let a = answer();
        let mut b = a.clone();
        b.message = crate::ans104::b64url_encode(&[8u8; 32]);
        b.slot = 77;
        b.mirror = crate::ans104::b64url_encode(&[9u8; 32]);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.payload(1).unwrap(), b.payload(1).unwrap());
        let mut c = a.clone();
        c.request_id = format!("{}:4", a.request_tx);
        assert_ne!(a.id(), c.id());
    }

    #[test]
    fn abi_encoding_of_tags_matches_soliditys_layout() {
        // abi.encode(["A"], ["bc"]): two offsets, then each array (length, offset, string).
        let got = abi_encode_string_arrays(&[("A".into(), "bc".into())]);
        let mut want = String::new();
        for w in [
            "40", "c0", // the arrays' offsets
            "1", "20", "1", // names: length 1, string at 0x20, "A" is 1 byte
        ] {
            want.push_str(&format!("{w:0>64}"));
        }
        want.push_str(&format!("{:0<64}", "41"));
        for w in ["1", "20", "2"] {
            want.push_str(&format!("{w:0>64}"));
        }
        want.push_str(&format!("{:0<64}", "6263"));
        assert_eq!(hex::encode(got), want);
        // No tags is two empty arrays.
        let empty = abi_encode_string_arrays(&[]);
        assert_eq!(
            hex::encode(empty),
            format!("{:0>64}{:0>64}{:0>64}{:0>64}", "40", "60", "0", "0")
        );
    }

    #[test]
    fn hex_data_is_decoded_and_bad_hex_is_named() {
        let mut a = answer();
        a.data = "0x00ff".into();
        a.data_encoding = Some("hex".into());
        assert_eq!(a.data_bytes().unwrap(), vec![0, 255]);
        a.data = "zz".into();
        assert!(matches!(
            a.data_bytes(),
            Err(AnswerError::Field { field: "data", .. })
        ));
    }

    fn signed(keys: &[SigningKey], payload: &[u8]) -> Vec<u8> {
        let sigs: Vec<([u8; 32], [u8; 64])> = keys
            .iter()
            .map(|k| (k.verifying_key().to_bytes(), k.sign(payload).to_bytes()))
            .collect();
        ed25519_instruction_data(payload, &sigs)
    }

    fn program() -> [u8; 32] {
        bs58::decode(ED25519_PROGRAM)
            .into_vec()
            .unwrap()
            .try_into()
            .unwrap()
    }

    #[test]
    fn a_quorum_verifies_and_every_defect_is_named() {
        let keys: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let set = Ed25519SignerSet {
            epoch: 1,
            members: keys.iter().map(|k| k.verifying_key().to_bytes()).collect(),
            threshold: 2,
        };
        let payload = SolanaPayload::from_payload(&answer().payload(1).unwrap()).unwrap();
        let bytes = payload.encode();
        assert_eq!(SolanaPayload::decode(&bytes).unwrap(), payload);

        let ok = signed(&keys[..2], &bytes);
        assert_eq!(
            verify_ed25519_quorum(&program(), &ok, &set).unwrap(),
            payload
        );

        assert!(matches!(
            verify_ed25519_quorum(&[0; 32], &ok, &set),
            Err(VerifyError::Instruction(_))
        ));
        assert_eq!(
            verify_ed25519_quorum(&program(), &signed(&keys[..1], &bytes), &set),
            Err(VerifyError::Quorum { got: 1, need: 2 })
        );
        let outsider = SigningKey::from_bytes(&[9; 32]);
        assert_eq!(
            verify_ed25519_quorum(
                &program(),
                &signed(&[keys[0].clone(), outsider], &bytes),
                &set
            ),
            Err(VerifyError::Outsider(1))
        );
        assert_eq!(
            verify_ed25519_quorum(
                &program(),
                &signed(&[keys[0].clone(), keys[0].clone()], &bytes),
                &set
            ),
            Err(VerifyError::Duplicate(1))
        );
        let other_epoch = Ed25519SignerSet {
            epoch: 2,
            ..set.clone()
        };
        assert_eq!(
            verify_ed25519_quorum(&program(), &ok, &other_epoch),
            Err(VerifyError::Epoch { payload: 1, set: 2 })
        );
        // An entry that points at another instruction's bytes was not checked here.
        let mut elsewhere = ok.clone();
        elsewhere[2 + 2..2 + 4].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            verify_ed25519_quorum(&program(), &elsewhere, &set),
            Err(VerifyError::Elsewhere(0))
        );
        // Two entries over different bytes.
        let mut split = ok.clone();
        let second = 2 + OFFSETS_LEN;
        split[second + 10..second + 12].copy_from_slice(&((bytes.len() - 1) as u16).to_le_bytes());
        assert_eq!(
            verify_ed25519_quorum(&program(), &split, &set),
            Err(VerifyError::OtherMessage(1))
        );
    }

    #[test]
    fn a_truncated_or_padded_payload_is_refused() {
        let bytes = SolanaPayload::from_payload(&answer().payload(1).unwrap())
            .unwrap()
            .encode();
        assert!(SolanaPayload::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SolanaPayload::decode(&longer).is_err());
        assert!(SolanaPayload::decode(&bytes[..20]).is_err());
    }

    #[test]
    fn the_memo_reads_back_and_matches_only_its_own_payload() {
        let a = answer();
        let memo = AnswerMemo::of(&a);
        let text = memo.encode();
        assert!(
            text.starts_with(&format!("aolink:answer:v1:{}:{{", a.id())),
            "{text}"
        );
        let read = AnswerMemo::decode(&text).unwrap();
        assert_eq!(read, memo);
        let payload = SolanaPayload::from_payload(&a.payload(1).unwrap()).unwrap();
        assert_eq!(payload.answer_id(), a.id());
        read.check(&payload).unwrap();
        let mut other_data = read.clone();
        other_data.data = "ping".into();
        assert!(
            matches!(other_data.check(&payload), Err(VerifyError::Memo(m)) if m.contains("data"))
        );
        let mut other_tags = read.clone();
        other_tags.tags.push(("X".into(), "y".into()));
        assert!(
            matches!(other_tags.check(&payload), Err(VerifyError::Memo(m)) if m.contains("tags"))
        );
        let mut other_id = read.clone();
        other_id.id = "00".into();
        assert!(matches!(other_id.check(&payload), Err(VerifyError::Memo(m)) if m.contains("id")));
        for bad in [
            "aolink:v1:{}",
            "aolink:answer:v1:abc",
            "aolink:answer:v1:abc:{\"data\":1}",
        ] {
            assert!(AnswerMemo::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_delivery_transaction_verifies_only_with_its_set_and_its_own_memo() {
        let keys: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let members: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
        let a = answer();
        let payload = SolanaPayload::from_payload(&a.payload(1).unwrap())
            .unwrap()
            .encode();
        let ix = signed(&keys[..2], &payload);
        let memo = AnswerMemo::of(&a).encode();
        let ed = program_key(ED25519_PROGRAM);
        let memo_program = program_key(MEMO_PROGRAMS[1]);
        let set = |epoch| Ed25519SignerSet {
            epoch,
            members: members.clone(),
            threshold: 2,
        };
        let tx = [(ed, ix.as_slice()), (memo_program, memo.as_bytes())];
        let (read, read_memo) = verify_answer_instructions(&tx, &[set(0), set(1)]).unwrap();
        assert_eq!(read.answer_id(), a.id());
        assert_eq!(read_memo.data, "pong");
        assert!(matches!(
            verify_answer_instructions(&tx, &[set(0)]),
            Err(VerifyError::Epoch { .. })
        ));
        let mut other = a.clone();
        other.data = "pang".into();
        let other_memo = AnswerMemo::of(&other).encode();
        let swapped = [(ed, ix.as_slice()), (memo_program, other_memo.as_bytes())];
        assert!(matches!(
            verify_answer_instructions(&swapped, &[set(1)]),
            Err(VerifyError::Memo(_))
        ));
        let no_memo = [(ed, ix.as_slice())];
        assert!(verify_answer_instructions(&no_memo, &[set(1)]).is_err());
        let memo_elsewhere = [(ed, ix.as_slice()), ([9u8; 32], memo.as_bytes())];
        assert!(verify_answer_instructions(&memo_elsewhere, &[set(1)]).is_err());
    }

    #[test]
    fn an_ethereum_answer_has_no_solana_payload() {
        let mut a = answer();
        a.chain_id = "31337".into();
        assert!(SolanaPayload::from_payload(&a.payload(0).unwrap()).is_err());
    }
}
