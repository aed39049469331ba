//! Request parameters from the query string, a form body or a JSON body, merged with path
//! parameters: any input is read or refused (400/415) without panicking; a refused conflict
//! names a path parameter; path parameters always win.
#![no_main]

use aclgate::policy::{ParamError, Params, PathParams};
use aclgate_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded; charset=UTF-8"),
    Some("Application/JSON;charset=utf-8"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 4);
    let kind = parts[0].first().copied().unwrap_or(0);
    let query = text(parts[1]);
    let body = parts[2];
    let names = text(parts[3]);
    let path = [("node", "pve1"), ("vmid", "100")];
    let path_params = PathParams::from_slice(&path).expect("two path params fit");
    let mut params = Params::new(path_params);
    let content_type = CONTENT_TYPES[usize::from(kind) % CONTENT_TYPES.len()];
    let result = params
        .add_query(&query)
        .and_then(|()| params.add_body(content_type, body));
    if let Err(ParamError::Conflict(name)) = &result {
        assert!(path.iter().any(|(n, _)| n == name), "conflict on {name:?}");
    }
    if result.is_ok() {
        for (name, value) in path {
            assert_eq!(
                params.get(name),
                Some(value),
                "path parameter {name} overridden"
            );
        }
        for name in names.split(',') {
            let _ = params.get(name);
        }
        let _ = params.get("_dc");
    }
});
