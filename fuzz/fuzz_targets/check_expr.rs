//! Check expressions in their JSON array form (as in Proxmox's API schema and `policy import`):
//! any JSON compiles or is refused without panicking; a compiled check prints in the array form
//! and that compiles to the same check.
#![no_main]

use aclgate::policy::Check;
use aclgate::policy::CheckValue as Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(check) = Check::parse(&Value::from_json(&json)) else {
        return;
    };
    let _ = check.params();
    let printed = check.to_string();
    let json: serde_json::Value = serde_json::from_str(&printed).expect("a printed check is JSON");
    let again = Check::parse(&Value::from_json(&json)).expect("a printed check compiles");
    assert_eq!(again, check, "check → text → check: {printed}");
});
