//! The push envelope and the items of its message: any body gives a message
//! or a poison error, never a panic; the items parser gets both the message's
//! data and the raw bytes.
#![no_main]

use hermes_push::PushMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = PushMessage::parse(data) {
        let _ = hermes_counters::items::parse(&message.data);
    }
    let _ = hermes_counters::items::parse(data);
});
