//! When a block is final enough to mirror its events.

use std::fmt;
use std::str::FromStr;

/// A chain's finality policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// The node's `finalized` block: no reorg reaches past it.
    Finalized,
    /// The node's `safe` block.
    Safe,
    /// The head minus N blocks. 0 follows the head itself; orphaned events are then retracted
    /// with `Chain-Reorg`.
    Confirmations(u64),
}

impl Finality {
    /// Whether events can be orphaned after delivery (and reorgs must be watched for).
    pub fn may_reorg(self) -> bool {
        !matches!(self, Finality::Finalized)
    }
}

impl fmt::Display for Finality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finality::Finalized => f.write_str("finalized"),
            Finality::Safe => f.write_str("safe"),
            Finality::Confirmations(n) => write!(f, "{n}"),
        }
    }
}

/// A finality policy that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("finality {0:?}: expected \"finalized\", \"safe\" or a number of confirmations")]
pub struct FinalityError(pub String);

impl FromStr for Finality {
    type Err = FinalityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "finalized" => Ok(Finality::Finalized),
            "safe" => Ok(Finality::Safe),
            n => n
                .parse()
                .map(Finality::Confirmations)
                .map_err(|_| FinalityError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, f) in [
            ("finalized", Finality::Finalized),
            ("Safe", Finality::Safe),
            ("0", Finality::Confirmations(0)),
            ("12", Finality::Confirmations(12)),
        ] {
            let parsed: Finality = text.parse().unwrap();
            assert_eq!(parsed, f);
            assert_eq!(parsed.to_string().parse::<Finality>().unwrap(), f);
        }
        assert!("latest".parse::<Finality>().is_err());
        assert!("-1".parse::<Finality>().is_err());
        assert!(!Finality::Finalized.may_reorg());
        assert!(Finality::Confirmations(3).may_reorg());
    }
}
