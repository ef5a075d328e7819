//! The OIDC token parser: any `Authorization` header is refused with a reason
//! or passes the checks that need no key, never a panic; the claims of any
//! payload parse or fail cleanly.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hermes_push::token_shape(Some(text));
    let _ = hermes_push::token_shape(Some(&format!("Bearer {text}")));
    // A token made of the input as its header and payload.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!("Bearer {}.{}.sig", b64.encode(data), b64.encode(data));
    let _ = hermes_push::token_shape(Some(&token));
    let _ = serde_json::from_slice::<hermes_push::Claims>(data);
});
