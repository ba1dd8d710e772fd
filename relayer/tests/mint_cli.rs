//! `aolink mint`: the published schedule values, an exact split, and errors naming the bad
//! input.

use std::process::Command;

fn aolink(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn schedule_prints_the_published_totals() {
    assert_eq!(
        aolink(&["mint", "schedule", "--periods", "1"]).1.trim(),
        "34593759375000"
    );
    assert_eq!(
        aolink(&["mint", "schedule", "--periods", "288"]).1.trim(),
        "9960647908748593"
    );
    let (ok, _, err) = aolink(&["mint", "schedule", "--periods", "1", "--rate", "monthly"]);
    assert!(!ok && err.contains("--rate"), "{err}");
}

#[test]
fn split_is_exact_and_names_bad_weights() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.json");
    // 100 over 1:2:3 = 16.67, 33.33, 50 -> the spare unit to the largest remainder (x).
    // A weight far beyond u128 is fine.
    std::fs::write(&file, r#"{"x": "1", "y": "2", "z": 3, "huge": "0"}"#).unwrap();
    let (ok, out, err) = aolink(&[
        "mint",
        "split",
        "--amount",
        "100",
        "--weights",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let parts: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        parts,
        serde_json::json!({"x": "17", "y": "33", "z": "50", "huge": "0"})
    );

    let big = format!(
        r#"{{"a": "{}", "b": "{}"}}"#,
        "9".repeat(60),
        "9".repeat(60)
    );
    std::fs::write(&file, big).unwrap();
    let (ok, out, _) = aolink(&[
        "mint",
        "split",
        "--amount",
        "3",
        "--weights",
        file.to_str().unwrap(),
    ]);
    assert!(ok);
    let parts: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parts, serde_json::json!({"a": "2", "b": "1"}));

    for (content, needle) in [
        (r#"{"a": "1", "bad": "-5"}"#, "\"bad\""),
        (r#"{"a": "1", "bad": 1.5}"#, "\"bad\""),
        (r#"{"a": "0"}"#, "zero"),
        (r#"{}"#, "no weights"),
        (r#"[1, 2]"#, "JSON object"),
    ] {
        std::fs::write(&file, content).unwrap();
        let (ok, _, err) = aolink(&[
            "mint",
            "split",
            "--amount",
            "10",
            "--weights",
            file.to_str().unwrap(),
        ]);
        assert!(!ok, "{content} should fail");
        assert!(err.contains(needle), "{content}: {err}");
    }
    let (ok, _, err) = aolink(&[
        "mint",
        "split",
        "--amount",
        "ten",
        "--weights",
        file.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--amount"), "{err}");
}
