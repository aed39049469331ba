//! The request-path normaliser: any path is refused or gives a canonical path (absolute, no
//! empty / `.` / `..` segment, no trailing slash, no control character or backslash) that the
//! normaliser maps to itself once sent in its forward form, and the normalised path decodes to
//! the same segments the raw path had (no encoded slash joined or split one).
#![no_main]

use aclgate::proxy::normalise;
use aclgate_fuzz::{assert_canonical_path, forward_form, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = text(data);
    let Ok(path) = normalise(&raw) else {
        return;
    };
    assert_canonical_path(&raw, &path);
    // Idempotent on the form it is forwarded in, and on itself when nothing needs encoding.
    let forward = forward_form(&path);
    assert_eq!(
        normalise(&forward).as_deref(),
        Ok(path.as_str()),
        "{raw:?} → {path:?} → {forward:?}"
    );
    if forward == path {
        assert_eq!(
            normalise(&path).as_deref(),
            Ok(path.as_str()),
            "{raw:?} → {path:?}"
        );
    }
    // Decoding never creates or removes a `/`: the segment count is the raw one (less a
    // trailing empty segment).
    let raw_segments = raw.trim_end_matches('/').split('/').count().max(1);
    let segments = path.trim_end_matches('/').split('/').count().max(1);
    assert_eq!(
        raw_segments, segments,
        "{raw:?} → {path:?}: segments changed"
    );
});
