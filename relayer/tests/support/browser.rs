//! Headless Chromium for the status page's tests: rendering a page, reading its DOM, and
//! saving a screenshot for CI (`$AOLINK_ARTIFACTS`, else `$CARGO_TARGET_DIR/artifacts`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Debian's Chromium, or `None` (a visible notice outside CI; a failure in CI, where the test
/// command installs it).
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(move |dir| dir.join(name))
        })
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing: tests/run installs it (apt-get install chromium)"
        );
        eprintln!("NOTICE: chromium not found; the status page's browser test is skipped");
    }
    found
}

/// Chromium's headless run of `url` with `extra` arguments; its stdout.
pub fn headless(browser: &PathBuf, profile: &Path, url: &str, extra: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=8000",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `<tr …>` of the rendered table row whose attributes include `marker`.
pub fn row<'a>(dom: &'a str, marker: &str) -> &'a str {
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page:\n{dom}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

/// The text of the cell with class `class` in `row`.
pub fn cell<'a>(row: &'a str, class: &str) -> &'a str {
    let open = format!("class=\"{class}\">");
    let start = row
        .find(&open)
        .unwrap_or_else(|| panic!("no {class} cell in {row}"))
        + open.len();
    &row[start..start + row[start..].find('<').unwrap_or(0)]
}

/// The element with id `id`'s text.
pub fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let at = dom.find(&marker).unwrap_or_else(|| panic!("no #{id}"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    &dom[start..start + dom[start..].find('<').unwrap()]
}

pub fn number(v: &Value) -> String {
    v.as_u64().map_or("–".into(), |n| n.to_string())
}

/// Saves a screenshot of `url` as `name` among the CI artifacts and checks it is a real image.
pub fn screenshot(browser: &PathBuf, profile: &Path, url: &str, name: &str) {
    let artifacts = std::env::var_os("AOLINK_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
                .join("artifacts")
        });
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join(name);
    let _ = std::fs::remove_file(&shot);
    headless(
        browser,
        profile,
        url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1000",
            "--hide-scrollbars",
        ],
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    eprintln!("screenshot: {}", shot.display());
}
