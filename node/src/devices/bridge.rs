//! `bridge@1.0` (placeholder: replaced by the real device in the next commit).

use super::{Device, DeviceEnv, DeviceError, Message, Reply};

/// The device name in a process's `Device` tag.
pub const NAME: &str = "bridge@1.0";

/// The bridge device.
#[derive(Debug)]
pub struct Bridge;

impl Bridge {
    /// A new device for the process in `env`.
    pub fn new(_env: &DeviceEnv) -> Result<Bridge, DeviceError> {
        Err(DeviceError::Unknown(NAME.into()))
    }

    /// Restores saved state.
    pub fn restore(_env: &DeviceEnv, _state: &[u8]) -> Result<Bridge, DeviceError> {
        Err(DeviceError::Unknown(NAME.into()))
    }
}

impl Device for Bridge {
    fn handle(&mut self, _msg: &Message) -> Reply {
        Reply::error("not available")
    }

    fn save(&self) -> Vec<u8> {
        Vec::new()
    }
}
