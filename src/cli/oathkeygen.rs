//! `oathkeygen`: print a new TOTP secret, 10 random bytes as RFC 3548 base32 (16 characters
//! from `A-Z2-7`, no padding), like Proxmox's `oathkeygen` tool.

use rand::RngCore;
use totp_rs::Secret;

use crate::config::StateError;

/// Print one fresh secret and a newline.
pub fn run() -> Result<(), StateError> {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    println!("{}", Secret::from(bytes.to_vec()).to_base32());
    Ok(())
}
