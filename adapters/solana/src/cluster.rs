//! Which cluster an RPC serves, from its genesis hash (`getGenesisHash`): the part of the
//! `Chain-Id` (`solana:<cluster>`) that says which Solana a mirror follows, so a URL pointing at
//! another cluster than configured is caught before it feeds a mirror.

/// The public clusters' genesis hashes and names.
const KNOWN: [(&str, &str); 3] = [
    (
        "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
        "mainnet-beta",
    ),
    ("EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG", "devnet"),
    ("4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY", "testnet"),
];

/// The cluster's name: `mainnet-beta`, `devnet` or `testnet` for the public clusters, and for
/// any other (a local validator, the test devnet) the first 32 characters of its genesis hash,
/// as CAIP-2 writes a Solana chain.
pub fn name(genesis_hash: &str) -> String {
    KNOWN
        .iter()
        .find(|(hash, _)| *hash == genesis_hash)
        .map_or_else(
            || genesis_hash.chars().take(32).collect(),
            |(_, name)| (*name).to_string(),
        )
}

/// The `Chain-Id` of the cluster with `genesis_hash`: `solana:<name>`.
pub fn chain_id(genesis_hash: &str) -> String {
    format!("solana:{}", name(genesis_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_clusters_go_by_name_and_others_by_their_genesis_hash() {
        assert_eq!(
            chain_id("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"),
            "solana:mainnet-beta"
        );
        assert_eq!(
            name("EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"),
            "devnet"
        );
        assert_eq!(
            name("4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY"),
            "testnet"
        );
        assert_eq!(
            chain_id("GH7ome3EiwEr7tu9JuTh2dpYWBJK3z69Xm1ZE3MEE6JC"),
            "solana:GH7ome3EiwEr7tu9JuTh2dpYWBJK3z69"
        );
    }
}
