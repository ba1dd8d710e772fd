//! The gateway call example (`examples/send_call.rs`, shown in docs/solana.md) run against the
//! local devnet: its command line, its keypair file and its transaction, read back as a
//! validator lists and returns it and as the adapter reads it.

use std::time::Duration;

use aolink_solana::{memo, transaction};
use aolink_solana_devnet::{Devnet, DevnetConfig};
use clap::Parser;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::{Keypair, write_keypair_file};
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction_status_client_types::{EncodedTransaction, UiMessage};

// The example itself, not a copy: its `main` is the only part the test does not call.
#[allow(dead_code)]
#[path = "../examples/send_call.rs"]
mod send_call;

const PROCESS: &str = "PROCESSpppppppppppppppppppppppppppppppppppp";

#[test]
fn the_docs_show_the_example_as_it_is() {
    let doc = include_str!("../../../docs/solana.md");
    let example = include_str!("../examples/send_call.rs");
    assert!(
        doc.contains(&format!("```rust\n{example}```\n")),
        "docs/solana.md must show adapters/solana/examples/send_call.rs verbatim in a ```rust block"
    );
    assert_eq!(send_call::PREFIX, memo::PREFIX);
    assert!(memo::MEMO_PROGRAMS.contains(&send_call::MEMO_PROGRAM));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_sends_a_call_the_adapter_reads() {
    let devnet = Devnet::start(DevnetConfig {
        slot_interval: Some(Duration::from_millis(10)),
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let sender = Keypair::new();
    let airdrop = client
        .request_airdrop(&sender.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    client
        .poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keypair = dir.path().join("sender.json");
    write_keypair_file(&sender, &keypair).unwrap();
    let gateway = Pubkey::new_unique();

    let args = send_call::Args::try_parse_from([
        "send_call",
        "--rpc",
        &devnet.url,
        "--keypair",
        keypair.to_str().unwrap(),
        "--gateway",
        &gateway.to_string(),
        "--process",
        PROCESS,
        "--action",
        "Ping",
        "--data",
        "hello from Solana",
        "--tag",
        "Note=n=1",
    ])
    .unwrap();
    let signature = send_call::run(args).await.unwrap();

    // Listed under the gateway, with the memo a validator shows for it (`[<length>] <text>`).
    let listed = client.get_signatures_for_address(&gateway).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].signature, signature.to_string());
    assert_eq!(listed[0].err, None);
    let shown = listed[0].memo.as_deref().unwrap_or_default();
    let (_, json) = shown
        .split_once(" aolink:v1:")
        .unwrap_or_else(|| panic!("memo {shown:?}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
        serde_json::json!({"process": PROCESS, "action": "Ping", "data": "hello from Solana",
                           "tags": {"Note": "n=1"}}),
        "memo {shown:?}"
    );

    // The gateway is the message's last key: read-only, not a signer, in no instruction.
    let fetched = client
        .get_transaction_with_config(
            &signature,
            transaction::fetch_config(CommitmentConfig::confirmed()),
        )
        .await
        .unwrap();
    let EncodedTransaction::Json(ui) = &fetched.transaction.transaction else {
        panic!("not json: {fetched:?}");
    };
    let UiMessage::Raw(message) = &ui.message else {
        panic!("not raw: {fetched:?}");
    };
    let keys = &message.account_keys;
    let at = keys.iter().position(|k| *k == gateway.to_string()).unwrap();
    let header = &message.header;
    assert_eq!(at, keys.len() - 1, "{keys:?}");
    assert!(
        at >= usize::from(header.num_required_signatures),
        "{header:?}"
    );
    assert!(
        at >= keys.len() - usize::from(header.num_readonly_unsigned_accounts),
        "{header:?}"
    );
    assert!(
        message
            .instructions
            .iter()
            .all(|ix| !ix.accounts.contains(&(at as u8)) && usize::from(ix.program_id_index) != at),
        "{message:?}"
    );

    // The adapter finds exactly the call.
    let read = transaction::read(&signature.to_string(), &fetched).unwrap();
    assert!(!read.failed);
    let found = memo::calls(&gateway, &read.keys, &read.executed);
    assert_eq!(found.malformed, vec![]);
    assert_eq!(found.calls.len(), 1, "{found:?}");
    let call = &found.calls[0];
    assert_eq!(call.index, 0);
    assert_eq!(call.sender, sender.pubkey());
    assert_eq!(call.process, PROCESS);
    assert_eq!(call.action, "Ping");
    assert_eq!(call.data, "hello from Solana");
    assert_eq!(call.tags.get("Note").map(String::as_str), Some("n=1"));
    let event = call.chain_event(&signature.to_string(), read.slot, read.block_time);
    assert_eq!(
        event.fields.request().unwrap().request_id,
        format!("{signature}:0")
    );
}

#[tokio::test]
async fn the_example_refuses_a_call_no_process_could_take_before_sending_it() {
    // Nothing listens on the RPC URL: the call is refused before any request.
    for (process, action, error) in [
        ("not-a-process", "Ping", "not an AO process id"),
        (PROCESS, "", "action is empty"),
    ] {
        let args = send_call::Args::try_parse_from([
            "send_call",
            "--rpc",
            "http://127.0.0.1:9",
            "--keypair",
            "/nonexistent",
            "--gateway",
            &Pubkey::new_unique().to_string(),
            "--process",
            process,
            "--action",
            action,
        ])
        .unwrap();
        let e = send_call::run(args).await.unwrap_err().to_string();
        assert!(e.contains(error), "{e}");
    }
}
