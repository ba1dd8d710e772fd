//! ANS-104 interop with the real JavaScript stack (`@dha-team/arbundles` 1.0.4, the library the
//! MU and aoconnect use), driven through the scripts in `tests/js/`:
//!
//! * JS-signed → Rust: `sign-items.mjs` signs items with arbundles' ArweaveSigner (type 1),
//!   SolanaSigner (2), EthereumSigner (3) and HexSolanaSigner (4); every item must parse and
//!   verify here with the exact fields arbundles put in, re-encode byte-identically, and every
//!   single-byte corruption of it must be rejected.
//! * Rust-signed → JS: items signed here (types 2, 3, 4) must verify in arbundles with the same
//!   id, and the corruptions arbundles still accepts must be exactly its known leniencies.
//!
//! Needs `tests/js/node_modules` (`npm ci` in tests/js, which `tests/run` does). Without it the
//! tests print a SKIPPED notice, or fail when `CI` is set.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use aolink_node::ans104::{
    DataItem, Ed25519Signer, EthereumSigner, Signer, SolanaHexSigner, Tag, b64url_decode,
    b64url_encode,
};
use serde_json::Value;

const MASKS: [u8; 2] = [0x01, 0xff];

/// The JS harness directory, or `None` (after a visible notice) when it is not installed.
fn js_harness(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js");
    if dir.join("node_modules").is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "the JS harness is not installed: {} has no node_modules (run tests/run, or `npm ci` there)",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {msg}");
    }
    // Straight to fd 2: libtest captures `eprintln!` of passing tests, which would hide this.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** {test}: SKIPPED (run tests/run to install the JS harness): {msg}\n"
    );
    None
}

/// Runs `node <script> <args…>` in the harness directory and returns its stdout.
fn run_node(js: &Path, script: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new("node")
        .arg(js.join(script))
        .args(args)
        .current_dir(js)
        .output()
        .unwrap_or_else(|e| panic!("could not run `node {script}` (is node on PATH?): {e}"));
    assert!(
        out.status.success(),
        "`node {script}` failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout
}

fn str_field<'a>(v: &'a Value, key: &str, ctx: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: manifest field {key} is not a string: {v}"))
}

fn opt_b64_32(v: &Value, key: &str, ctx: &str) -> Option<[u8; 32]> {
    match &v[key] {
        Value::Null => None,
        Value::String(s) => {
            let bytes = b64url_decode(s).expect("manifest b64url");
            Some(
                bytes
                    .try_into()
                    .unwrap_or_else(|_| panic!("{ctx}: manifest {key} is not 32 bytes")),
            )
        }
        other => panic!("{ctx}: manifest {key} is neither null nor a string: {other}"),
    }
}

/// Signature and owner lengths per signature type (arbundles `SIG_CONFIG`).
fn sig_owner_len(sig_type: u16) -> (usize, usize) {
    match sig_type {
        1 => (512, 512),
        2 | 4 => (64, 32),
        3 => (65, 65),
        other => panic!("no layout for signature type {other} in this test"),
    }
}

// ---------------------------------------------------------------------------------------------
// (a) JS-signed → Rust
// ---------------------------------------------------------------------------------------------

#[test]
fn js_signed_items_parse_verify_and_roundtrip_in_rust() {
    let Some(js) = js_harness("js_signed_items_parse_verify_and_roundtrip_in_rust") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    run_node(&js, "sign-items.mjs", &[dir.path().as_os_str()]);

    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("manifest.json")).expect("manifest.json written"),
    )
    .expect("manifest.json is JSON");
    let items = manifest["items"].as_array().expect("manifest.items");

    // sign-items.mjs must have produced every signer and shape, or this test proves little.
    let types: BTreeSet<u64> = items
        .iter()
        .map(|i| i["signatureType"].as_u64().expect("signatureType"))
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([1, 2, 3, 4]),
        "signature types covered"
    );
    assert!(
        items.len() >= 8,
        "expected at least two items per signer, got {}",
        items.len()
    );
    assert!(
        items
            .iter()
            .any(|i| i["target"].is_null() && i["anchor"].is_null())
    );
    assert!(
        items
            .iter()
            .any(|i| !i["target"].is_null() && !i["anchor"].is_null())
    );
    assert!(
        items
            .iter()
            .any(|i| i["tags"].as_array().is_some_and(|t| t.is_empty()))
    );
    assert!(
        items
            .iter()
            .any(|i| i["tags"].as_array().is_some_and(|t| t.len() == 1))
    );

    let mut flip_failures = Vec::new();
    let mut flips_tried = 0usize;
    for entry in items {
        let file = str_field(entry, "file", "manifest");
        let ctx = file;
        let raw = std::fs::read(dir.path().join(file)).expect("item file");

        let item = DataItem::parse_verified(&raw)
            .unwrap_or_else(|e| panic!("{ctx}: arbundles-signed item rejected: {e:?}"));
        assert_eq!(item.id_b64(), str_field(entry, "id", ctx), "{ctx}: id");
        assert_eq!(
            u64::from(item.signature_type.as_u16()),
            entry["signatureType"].as_u64().expect("signatureType"),
            "{ctx}: signature type"
        );
        assert_eq!(
            b64url_encode(&item.owner),
            str_field(entry, "owner", ctx),
            "{ctx}: owner"
        );
        assert_eq!(
            item.target,
            opt_b64_32(entry, "target", ctx),
            "{ctx}: target"
        );
        assert_eq!(
            item.anchor,
            opt_b64_32(entry, "anchor", ctx),
            "{ctx}: anchor"
        );
        let want_tags: Vec<(String, String)> = entry["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| {
                (
                    str_field(t, "name", ctx).to_owned(),
                    str_field(t, "value", ctx).to_owned(),
                )
            })
            .collect();
        let got_tags: Vec<(String, String)> = item
            .tags
            .iter()
            .map(|t| (t.name.clone(), t.value.clone()))
            .collect();
        assert_eq!(
            got_tags, want_tags,
            "{ctx}: tags (order, duplicates and empty values kept)"
        );
        let want_data = base64_std_decode(str_field(entry, "data", ctx));
        assert_eq!(item.data, want_data, "{ctx}: data");
        assert!(
            item.to_bytes() == raw,
            "{ctx}: to_bytes() is not byte-identical to the arbundles bytes"
        );

        // Every single-byte corruption must be rejected.
        let mut variant = raw.clone();
        for pos in 0..raw.len() {
            for mask in MASKS {
                variant[pos] = raw[pos] ^ mask;
                flips_tried += 1;
                if let Ok(accepted) = DataItem::parse_verified(&variant) {
                    flip_failures.push(format!(
                        "{ctx}: byte {pos} ^ {mask:#04x} accepted (id {})",
                        accepted.id_b64()
                    ));
                }
            }
            variant[pos] = raw[pos];
        }
    }
    assert!(
        flip_failures.is_empty(),
        "{} of {flips_tried} single-byte corruptions were accepted by parse_verified, e.g.:\n{}",
        flip_failures.len(),
        flip_failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Standard (padded) base64, as the manifest's `data` uses; kept local so the test does not
/// depend on which base64 helpers the crate exports.
fn base64_std_decode(s: &str) -> Vec<u8> {
    let url: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    b64url_decode(&url).expect("manifest data is base64")
}

// ---------------------------------------------------------------------------------------------
// (b) Rust-signed → JS
// ---------------------------------------------------------------------------------------------

struct Shape {
    name: &'static str,
    target: Option<[u8; 32]>,
    anchor: Option<[u8; 32]>,
    tags: Vec<Tag>,
    data: Vec<u8>,
}

fn shapes() -> Vec<Shape> {
    let target = [0x11u8; 32];
    let mut raw_anchor = [0u8; 32];
    for (i, b) in raw_anchor.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(0x80); // not UTF-8
    }
    let digits_anchor: [u8; 32] = *b"00000000000000000000000000000007";
    vec![
        Shape {
            name: "full",
            target: Some(target),
            anchor: Some(raw_anchor),
            tags: vec![
                Tag::new("Data-Protocol", "ao"),
                Tag::new("Variant", "ao.TN.1"),
                Tag::new("Type", "Message"),
                Tag::new("Action", "Ping"),
                Tag::new("Empty-Value", ""),
                Tag::new("Exclude", "a"),
                Tag::new("Exclude", "b"),
                Tag::new("Ünïcödé-名前", "värde ✓ 🚀"),
                Tag::new("Long-Value", "y".repeat(200)),
            ],
            data: "héllo wörld — 你好 🌍".as_bytes().to_vec(),
        },
        Shape {
            name: "bare",
            target: None,
            anchor: None,
            tags: Vec::new(),
            data: Vec::new(),
        },
        Shape {
            name: "onetag",
            target: Some(target),
            anchor: None,
            tags: vec![Tag::new("Content-Type", "application/octet-stream")],
            data: (0..=255u8).collect(),
        },
        Shape {
            name: "anchoronly-tags-nodata",
            target: None,
            anchor: Some(digits_anchor),
            tags: vec![Tag::new("Data-Protocol", "ao"), Tag::new("Type", "Process")],
            data: Vec::new(),
        },
        Shape {
            name: "anchoronly-notags",
            target: None,
            anchor: Some(digits_anchor),
            tags: Vec::new(),
            data: b"x".to_vec(),
        },
    ]
}

/// The single-byte corruptions arbundles 1.0.4 `DataItem.verify` still accepts, derived from its
/// code (`DataItem.ts`, `ethereumSigner.ts`) and checked against its behaviour:
///
/// 1. a presence byte != 1 means "absent": XOR 0xFF on the presence byte of an ABSENT target or
///    anchor (0 → 0xFF) changes nothing it reads;
/// 2. `EthereumSigner.verify` drops the recovery byte v (`signature[64]`) before
///    `secp256k1.ecdsaVerify`, so any change to it verifies (type 3 only);
/// 3. the tag-count check is skipped when the header count is 0, and the count is not signed:
///    a flip that turns the count into 0 (1 ^ 0x01, 255 ^ 0xFF) verifies;
/// 4. the tag-bytes length is only checked against 4096 and slices are clamped to the buffer:
///    when the data is empty, growing it (up to 4096) leaves both the tag bytes and the (empty)
///    data unchanged.
///
/// aolink's parser must reject all of these (test (a) covers the same positions).
fn arbundles_lenient_flips(raw: &[u8], sig_type: u16, item: &DataItem) -> BTreeSet<(usize, u8)> {
    let (sig_len, owner_len) = sig_owner_len(sig_type);
    let mut out = BTreeSet::new();

    let target_pos = 2 + sig_len + owner_len;
    let anchor_pos = target_pos + 1 + if item.target.is_some() { 32 } else { 0 };
    let tags_start = anchor_pos + 1 + if item.anchor.is_some() { 32 } else { 0 };
    assert_eq!(
        raw[target_pos],
        u8::from(item.target.is_some()),
        "target presence byte position"
    );
    assert_eq!(
        raw[anchor_pos],
        u8::from(item.anchor.is_some()),
        "anchor presence byte position"
    );

    // 1.
    if item.target.is_none() {
        out.insert((target_pos, 0xff));
    }
    if item.anchor.is_none() {
        out.insert((anchor_pos, 0xff));
    }
    // 2.
    if sig_type == 3 {
        out.insert((2 + 64, 0x01));
        out.insert((2 + 64, 0xff));
    }
    let read_u64 = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
    let count = read_u64(tags_start);
    let tag_bytes = read_u64(tags_start + 8);
    assert_eq!(count as usize, item.tags.len(), "tag count position");
    assert_eq!(
        tags_start + 16 + tag_bytes as usize + item.data.len(),
        raw.len(),
        "tag bytes length position"
    );
    for k in 0..8 {
        for mask in MASKS {
            let flipped = |v: u64| v ^ (u64::from(mask) << (8 * k));
            // 3.
            if flipped(count) == 0 {
                out.insert((tags_start + k, mask));
            }
            // 4.
            let grown = flipped(tag_bytes);
            if item.data.is_empty() && grown > tag_bytes && grown <= 4096 {
                out.insert((tags_start + 8 + k, mask));
            }
        }
    }
    out
}

#[test]
fn rust_signed_items_verify_in_arbundles() {
    let Some(js) = js_harness("rust_signed_items_verify_in_arbundles") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");

    let ed25519 = Ed25519Signer::generate();
    let ethereum = EthereumSigner::generate();
    let solana_hex = SolanaHexSigner::generate();
    let signers: [(&str, &dyn Signer, u16); 3] = [
        ("ed25519", &ed25519, 2),
        ("ethereum", &ethereum, 3),
        ("solanahex", &solana_hex, 4),
    ];

    struct Written {
        path: PathBuf,
        id: String,
        sig_type: u16,
        lenient: BTreeSet<(usize, u8)>,
    }
    let mut written = Vec::new();
    for (signer_name, signer, sig_type) in signers {
        for shape in shapes() {
            let ctx = format!("{signer_name}-{}", shape.name);
            let item = DataItem::sign(
                signer,
                shape.target,
                shape.anchor,
                shape.tags.clone(),
                shape.data.clone(),
            )
            .unwrap_or_else(|e| panic!("{ctx}: signing failed: {e:?}"));
            assert_eq!(
                item.signature_type.as_u16(),
                sig_type,
                "{ctx}: signature type"
            );
            let raw = item.to_bytes();
            let reparsed = DataItem::parse_verified(&raw)
                .unwrap_or_else(|e| panic!("{ctx}: Rust rejects its own item: {e:?}"));
            assert_eq!(reparsed.id_b64(), item.id_b64(), "{ctx}: id after re-parse");
            let path = dir.path().join(format!("{ctx}.bin"));
            std::fs::write(&path, &raw).expect("write item");
            written.push(Written {
                lenient: arbundles_lenient_flips(&raw, sig_type, &item),
                path,
                id: item.id_b64(),
                sig_type,
            });
        }
    }
    // The shapes must actually exercise every leniency the expectation models.
    assert!(written.iter().any(|w| w.sig_type == 3));
    assert!(written.iter().any(|w| w.lenient.len() >= 4));

    let mut args: Vec<&std::ffi::OsStr> = vec!["--flips".as_ref()];
    args.extend(written.iter().map(|w| w.path.as_os_str()));
    let out = run_node(&js, "verify-items.mjs", &args);
    let report: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "verify-items.mjs did not print JSON ({e}):\n{}",
            String::from_utf8_lossy(&out)
        )
    });
    let results = report["results"].as_array().expect("results array");
    assert_eq!(results.len(), written.len(), "one result per file");

    let mut problems = Vec::new();
    for (w, r) in written.iter().zip(results) {
        let name = w.path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        assert_eq!(
            r["file"].as_str(),
            w.path.to_str(),
            "results are in argument order"
        );
        if r["valid"] != Value::Bool(true) {
            problems.push(format!(
                "{name}: arbundles rejects the Rust-signed item: {r}"
            ));
            continue;
        }
        if r["id"].as_str() != Some(w.id.as_str()) {
            problems.push(format!(
                "{name}: arbundles id {} != Rust id {}",
                r["id"], w.id
            ));
        }
        if r["signatureType"].as_u64() != Some(u64::from(w.sig_type)) {
            problems.push(format!(
                "{name}: arbundles signatureType {}",
                r["signatureType"]
            ));
        }
        let raw_len = std::fs::metadata(&w.path).expect("item file").len() as usize;
        assert_eq!(
            r["flips"]["tried"].as_u64(),
            Some(2 * raw_len as u64),
            "{name}: flips tried"
        );
        let accepted: BTreeSet<(usize, u8)> = r["flips"]["accepted"]
            .as_array()
            .expect("flips.accepted")
            .iter()
            .map(|a| {
                let pos = a["pos"].as_u64().expect("pos") as usize;
                let mask = match a["xor"].as_str() {
                    Some("0x01") => 0x01,
                    Some("0xff") => 0xff,
                    other => panic!("{name}: unexpected xor {other:?}"),
                };
                (pos, mask)
            })
            .collect();
        if accepted != w.lenient {
            let fmt = |s: &BTreeSet<(usize, u8)>| {
                s.iter()
                    .map(|(p, m)| format!("{p}^{m:#04x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            problems.push(format!(
                "{name}: arbundles accepted corruptions [{}], expected exactly its known leniencies [{}]\n  \
                 unexpected: [{}]\n  missing: [{}]",
                fmt(&accepted),
                fmt(&w.lenient),
                fmt(&accepted.difference(&w.lenient).copied().collect()),
                fmt(&w.lenient.difference(&accepted).copied().collect()),
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "Rust → arbundles interop problems:\n{}",
        problems.join("\n")
    );
}
