//! Configuration mistakes stop `aolink node` before it opens anything, with one line naming
//! the key (and the variable that set it) or the file, and exit status 78 (`EX_CONFIG`);
//! usage mistakes exit with 2.

use std::path::Path;
use std::process::Command;

const GOOD: &str = r#"
[[ethereum]]
chain_id = 1
rpc = "http://127.0.0.1:9"

[[ethereum.contracts]]
address = "0xfe08d40eb5a9f0af4d1a9db8bce09d8c27bdf55e"
start_block = 1
"#;

/// Runs `aolink node` with `config` (and `env`); returns its exit status and its one error
/// line.
fn fails(dir: &Path, config: &str, env: &[(&str, &str)]) -> (i32, String) {
    let path = dir.join("aolink.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(["node", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(
        !dir.join("data").exists(),
        "nothing is created before the configuration is good"
    );
    (out.status.code().unwrap_or(-1), errors[0].to_string())
}

#[test]
fn each_configuration_mistake_is_one_line_naming_its_key_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (what, config, env, names) in [
        (
            "an unknown key",
            GOOD.replace("chain_id = 1", "chain_id = 1\nrpc_url = \"x\""),
            vec![],
            vec!["ethereum[0]", "unknown field `rpc_url`"],
        ),
        (
            "a missing RPC URL",
            GOOD.replace("rpc = \"http://127.0.0.1:9\"\n", ""),
            vec![],
            vec!["ethereum[0]", "missing field `rpc`"],
        ),
        (
            "an environment override of a bad value",
            GOOD.to_string(),
            vec![("AOLINK__ETHEREUM__0__POLL_INTERVAL_MS", "soon")],
            vec![
                "AOLINK__ETHEREUM__0__POLL_INTERVAL_MS (overrides ethereum[0].poll_interval_ms)",
                "\"soon\"",
            ],
        ),
        (
            "an override of a value a check refuses",
            GOOD.to_string(),
            vec![("AOLINK__ETHEREUM__0__RPC", "ftp://x")],
            vec!["AOLINK__ETHEREUM__0__RPC (overrides ethereum[0].rpc)"],
        ),
        (
            "a file that is not TOML",
            format!("{GOOD}\n[delivery\n"),
            vec![],
            vec!["aolink.toml: not TOML at line"],
        ),
    ] {
        let env: Vec<(&str, &str)> = env;
        let (code, line) = fails(d, &config, &env);
        assert_eq!(code, 78, "{what}: {line}");
        for name in names {
            assert!(line.contains(name), "{what}: {name:?} not in {line}");
        }
    }

    // A malformed key file is named, with what is wrong in it.
    let key = d.join("attest.key");
    std::fs::write(&key, "not hex\n").unwrap();
    let mut perms = std::fs::metadata(&key).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&key, perms).unwrap();
    let config = format!(
        "[attest]\nethereum_key_file = \"{}\"\n{GOOD}",
        key.display()
    );
    let (code, line) = fails(d, &config, &[]);
    assert_eq!(code, 78, "{line}");
    assert!(
        line.contains(&key.display().to_string()) && line.contains("not a hex secret"),
        "{line}"
    );
}

#[test]
fn a_usage_mistake_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(["node", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
