//! `mirror@1.0` (placeholder: replaced by the real device in the next commit).

use super::{Device, DeviceEnv, DeviceError, Message, Reply};

/// The device name in a process's `Device` tag.
pub const NAME: &str = "mirror@1.0";

/// The mirror device.
#[derive(Debug)]
pub struct Mirror;

impl Mirror {
    /// A new device for the process in `env`.
    pub fn new(_env: &DeviceEnv) -> Result<Mirror, DeviceError> {
        Err(DeviceError::Unknown(NAME.into()))
    }

    /// Restores saved state.
    pub fn restore(_env: &DeviceEnv, _state: &[u8]) -> Result<Mirror, DeviceError> {
        Err(DeviceError::Unknown(NAME.into()))
    }
}

impl Device for Mirror {
    fn handle(&mut self, _msg: &Message) -> Reply {
        Reply::error("not available")
    }

    fn save(&self) -> Vec<u8> {
        Vec::new()
    }
}
