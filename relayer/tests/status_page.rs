//! The status page (`/ui`) in a real browser: headless Chromium renders it against a node
//! following anvil, and what the rendered DOM shows (health, the chain's head, cursor and lag,
//! the processes, the delivery queue) is checked against `/status` and `/ui/data`. A
//! screenshot is saved for CI (`$AOLINK_ARTIFACTS`, else `$CARGO_TARGET_DIR/artifacts`).

use std::time::{Duration, Instant};

use aolink_testkit::*;
use support::browser::{cell, chromium, headless, number, row, screenshot, text_of};
use support::{RunningNode, printed_mirror};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_what_the_node_reports() {
    let Some(browser) = chromium() else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    mine(&provider, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aolink.toml");
    std::fs::write(
        &config,
        format!(
            "[[ethereum]]\nchain_id = 31337\nrpc = \"{}\"\nfinality = 2\npoll_interval_ms = 50\n\n\
             [[ethereum.contracts]]\naddress = \"0x00000000000000000000000000000000000000aa\"\nstart_block = 0\n",
            anvil.endpoint_url()
        ),
    )
    .unwrap();
    let (node, printed) = RunningNode::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let mirror = printed_mirror(&printed, "31337");
    let client = reqwest::Client::new();
    // The chain at rest and followed to its final head: what the page shows stays put.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = get_json(&client, &format!("{}/status", node.url)).await;
        let chain = &status["components"]["ethereum/31337"];
        if chain["head"].as_u64() == Some(3) && chain["contracts"][0]["behind"].as_u64() == Some(0)
        {
            break status;
        }
        assert!(Instant::now() < deadline, "never followed: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let profile = tempfile::tempdir().unwrap();
    let url = format!("{}/ui", node.url);
    let dom = headless(&browser, profile.path(), &url, &["--dump-dom"]);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page never loaded its data:\n{dom}"
    );
    assert_eq!(text_of(&dom, "node-address"), node.address);
    assert_eq!(text_of(&dom, "healthy"), "healthy");
    let chain = &status["components"]["ethereum/31337"];
    let contract = &chain["contracts"][0];
    let r = row(&dom, "data-component=\"ethereum/31337\"");
    assert_eq!(cell(r, "state"), "ok");
    assert_eq!(cell(r, "num head"), number(&chain["head"]));
    assert_eq!(cell(r, "num cursor"), number(&contract["deliveredThrough"]));
    assert_eq!(cell(r, "num behind"), number(&contract["behind"]));
    assert!(r.contains(contract["address"].as_str().unwrap()), "{r}");

    // The processes and the delivery queue, as /ui/data has them.
    let data = get_json(&client, &format!("{}/ui/data", node.url)).await;
    let listed = data["processes"].as_array().unwrap();
    assert!(!listed.is_empty());
    for p in listed {
        let id = p["id"].as_str().unwrap();
        let r = row(&dom, &format!("data-process=\"{id}\""));
        assert_eq!(cell(r, "num messages"), number(&p["messages"]));
    }
    assert!(listed.iter().any(|p| p["id"] == mirror.as_str()), "{data}");
    assert_eq!(
        text_of(&dom, "deliveries-open"),
        number(&status["deliveries"]["open"])
    );
    assert!(dom.contains("no answer recorded yet"));
    assert!(dom.contains("no bridge process"));

    screenshot(&browser, profile.path(), &url, "status-page.png");
    node.stop();
}
