//! The `Module-Format` tag: which emscripten glue (and so which ABI) an AO module was built
//! against. The scheduler checks it at spawn and the compute unit picks its host by it, so it
//! lives below both.

/// A `Module-Format` value this node does not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported Module-Format {0:?}")]
pub struct UnsupportedFormat(pub String);

/// The `Module-Format` of an AO module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModuleFormat {
    /// `wasm32-unknown-emscripten`: the oldest format, minified import/export names.
    Emscripten,
    /// `wasm32-unknown-emscripten2`.
    Emscripten2,
    /// `wasm32-unknown-emscripten3`.
    Emscripten3,
    /// `wasm32-unknown-emscripten4`.
    Emscripten4,
    /// `wasm64-unknown-emscripten-draft_2024_02_15` (aos 2.x).
    Wasm64,
}

impl ModuleFormat {
    /// Parses a `Module-Format` tag value.
    pub fn parse(tag: &str) -> Result<ModuleFormat, UnsupportedFormat> {
        Ok(match tag {
            "wasm32-unknown-emscripten" => ModuleFormat::Emscripten,
            "wasm32-unknown-emscripten2" => ModuleFormat::Emscripten2,
            "wasm32-unknown-emscripten3" => ModuleFormat::Emscripten3,
            "wasm32-unknown-emscripten4" => ModuleFormat::Emscripten4,
            "wasm64-unknown-emscripten-draft_2024_02_15" => ModuleFormat::Wasm64,
            other => return Err(UnsupportedFormat(other.to_string())),
        })
    }

    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleFormat::Emscripten => "wasm32-unknown-emscripten",
            ModuleFormat::Emscripten2 => "wasm32-unknown-emscripten2",
            ModuleFormat::Emscripten3 => "wasm32-unknown-emscripten3",
            ModuleFormat::Emscripten4 => "wasm32-unknown-emscripten4",
            ModuleFormat::Wasm64 => "wasm64-unknown-emscripten-draft_2024_02_15",
        }
    }

    /// The glue's `getHeapMax()`.
    pub fn heap_max(self) -> u64 {
        match self {
            ModuleFormat::Wasm64 => 17_179_869_184,
            ModuleFormat::Emscripten3 | ModuleFormat::Emscripten4 => 4_294_901_760,
            ModuleFormat::Emscripten | ModuleFormat::Emscripten2 => 524_288_000,
        }
    }
}

impl std::fmt::Display for ModuleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
