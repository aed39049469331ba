//! `aclgate policy import-pve`: Proxmox's API permission dump → a policy file.

use super::PolicyError;

/// Turn the dump into policy-file text.
pub fn import_pve(_json: &str) -> Result<String, PolicyError> {
    Err(PolicyError::Import("todo".into()))
}
