//! Reading the configuration file: environment overrides of any key, and errors that name the
//! key (and the variable that set it) or the file at fault, typed as configuration errors so
//! the command exits with [`EXIT_CONFIG`].
//!
//! An override is an environment variable `AOLINK__` followed by the key's path in upper case,
//! its parts joined by `__`, array elements by their index:
//!
//! ```text
//! AOLINK__DELIVERY__RANK=1
//! AOLINK__ETHEREUM__0__RPC=https://eth.example/rpc
//! AOLINK__ATTEST__PEERS='["https://b.example", "https://c.example"]'
//! ```
//!
//! The value is read as a TOML value when it is one (`1`, `true`, `["a"]`), as a string
//! otherwise. An override may add a key to an existing table, not a new array element.

use std::collections::BTreeMap;
use std::fmt;

/// The exit status of a configuration error (`EX_CONFIG` of sysexits.h).
pub const EXIT_CONFIG: u8 = 78;

/// The prefix of an override variable.
pub const OVERRIDE_PREFIX: &str = "AOLINK__";

/// A configuration error: the one line that says what is wrong, naming the key or file.
#[derive(Debug)]
pub struct ConfigFault(pub String);

impl fmt::Display for ConfigFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigFault {}

/// A configuration error as an `anyhow` error (its exit status is [`EXIT_CONFIG`]).
pub fn fault(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ConfigFault(message.into()))
}

/// The overrides applied to a file: each key's path (`ethereum[0].rpc`) and its variable.
#[derive(Debug, Default)]
pub struct Overrides {
    by_path: BTreeMap<String, String>,
}

impl Overrides {
    /// The variable that set `path` or a key under it, if one did.
    pub fn variable_for(&self, path: &str) -> Option<&str> {
        self.by_path
            .iter()
            .filter(|(set, _)| {
                path == set.as_str()
                    || path.starts_with(&format!("{set}."))
                    || path.starts_with(&format!("{set}["))
                    || set.starts_with(&format!("{path}."))
            })
            .map(|(_, var)| var.as_str())
            .next()
    }

    /// `message` about the key at `path`, naming the variable that set it, if one did.
    pub fn describe(&self, path: &str, message: &str) -> String {
        match self.variable_for(path) {
            Some(var) => format!("{var} (overrides {path}): {message}"),
            None => format!("{path}: {message}"),
        }
    }
}

/// A value as an override gives it: TOML when it reads as a TOML value, a string otherwise.
fn override_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Applies every `AOLINK__…` variable of `vars` to `file`.
pub fn apply_overrides(
    file: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Overrides, ConfigFault> {
    let mut overrides = Overrides::default();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(OVERRIDE_PREFIX))
        .collect();
    vars.sort();
    for (name, text) in vars {
        let parts: Vec<String> = name[OVERRIDE_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if parts.iter().any(String::is_empty) {
            return Err(ConfigFault(format!(
                "{name}: not a key path (parts are joined by a double underscore, as AOLINK__ETHEREUM__0__RPC)"
            )));
        }
        let path = set_path(file, &parts, override_value(&text))
            .map_err(|why| ConfigFault(format!("{name}: {why}")))?;
        overrides.by_path.insert(path, name);
    }
    Ok(overrides)
}

/// Sets the key at `parts` in `table`; returns its dotted path (`ethereum[0].rpc`).
fn set_path(
    table: &mut toml::Table,
    parts: &[String],
    value: toml::Value,
) -> Result<String, String> {
    let (first, rest) = parts.split_first().ok_or("an empty key path")?;
    let mut path = first.clone();
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(path);
    }
    let mut at = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        at = match at {
            toml::Value::Table(t) => {
                path.push('.');
                path.push_str(part);
                if last {
                    t.insert(part.clone(), value);
                    return Ok(path);
                }
                t.entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(items) => {
                let index: usize = part
                    .parse()
                    .map_err(|_| format!("{path} is a list: {part:?} is not an index in it"))?;
                let len = items.len();
                path.push_str(&format!("[{index}]"));
                let item = items.get_mut(index).ok_or_else(|| {
                    format!("{path}: the file has {len} of them; an override changes one, it does not add one")
                })?;
                if last {
                    *item = value;
                    return Ok(path);
                }
                item
            }
            _ => return Err(format!("{path} is a value, it has no key {part:?}")),
        };
    }
    Ok(path)
}

/// Deserializes `value` (the key at `at`, `""` for the whole file), naming the key of any
/// error, and the variable that set it.
pub fn parse<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    at: &str,
    overrides: &Overrides,
) -> Result<T, ConfigFault> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (at, inner.as_str()) {
            (at, ".") => at.to_string(),
            ("", inner) => inner.to_string(),
            (at, inner) if inner.starts_with('[') => format!("{at}{inner}"),
            (at, inner) => format!("{at}.{inner}"),
        };
        let message = without_location(&e.into_inner().to_string());
        ConfigFault(overrides.describe(&path, &message))
    })
}

/// A serde message without the file position a TOML error may append: the key is named
/// instead.
fn without_location(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_reach_tables_and_array_elements_with_typed_values() {
        let mut file: toml::Table = toml::from_str(
            "[delivery]\nrank = 0\n[[ethereum]]\nchain_id = 1\nrpc = \"http://a\"\n",
        )
        .unwrap();
        let o = apply_overrides(
            &mut file,
            vars(&[
                ("AOLINK__DELIVERY__RANK", "2"),
                ("AOLINK__ETHEREUM__0__RPC", "http://b:8545"),
                ("AOLINK__ATTEST__PEERS", "[\"http://c\"]"),
                ("AOLINK_LOG", "debug"),
            ]),
        )
        .unwrap();
        assert_eq!(file["delivery"]["rank"].as_integer(), Some(2));
        assert_eq!(file["ethereum"][0]["rpc"].as_str(), Some("http://b:8545"));
        assert_eq!(file["attest"]["peers"][0].as_str(), Some("http://c"));
        assert_eq!(
            o.variable_for("ethereum[0].rpc"),
            Some("AOLINK__ETHEREUM__0__RPC")
        );
        assert_eq!(o.variable_for("ethereum[0].chain_id"), None);
    }

    #[test]
    fn an_override_that_cannot_apply_names_its_variable() {
        let mut file: toml::Table = toml::from_str("[[ethereum]]\nchain_id = 1\n").unwrap();
        for (name, want) in [
            ("AOLINK__ETHEREUM__3__RPC", "does not add one"),
            ("AOLINK__ETHEREUM__X__RPC", "not an index"),
            ("AOLINK__ETHEREUM__0__CHAIN_ID__Y", "is a value"),
            ("AOLINK____RPC", "not a key path"),
        ] {
            let err = apply_overrides(&mut file.clone(), vars(&[(name, "1")])).unwrap_err();
            assert!(err.0.starts_with(name) && err.0.contains(want), "{err}");
        }
        let _ = &mut file;
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_variable_that_set_it() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Section {
            #[allow(dead_code)]
            poll_interval_ms: u64,
        }
        let mut file: toml::Table = toml::from_str("[[s]]\npoll_interval_ms = 5\n").unwrap();
        let o = apply_overrides(
            &mut file,
            vars(&[("AOLINK__S__0__POLL_INTERVAL_MS", "soon")]),
        )
        .unwrap();
        let err = parse::<Vec<Section>>(file["s"].clone(), "s", &o).unwrap_err();
        assert!(
            err.0
                .starts_with("AOLINK__S__0__POLL_INTERVAL_MS (overrides s[0].poll_interval_ms): "),
            "{err}"
        );
        let typo: toml::Table = toml::from_str("[[s]]\npoll_intervl_ms = 5\n").unwrap();
        let err = parse::<Vec<Section>>(typo["s"].clone(), "s", &Overrides::default()).unwrap_err();
        assert!(
            err.0.starts_with("s[0]") && err.0.contains("poll_intervl_ms"),
            "{err}"
        );
    }
}
