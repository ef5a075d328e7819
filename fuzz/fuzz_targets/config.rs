//! The configuration parser: any text gives a configuration or one error
//! line, never a panic; every function's own section parses the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match hermes_core::config::Config::parse(text, Some("fuzz-project")) {
        Ok(config) => {
            let _ = hermes_counters::Counters::settings_from(&config);
        }
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line}");
        }
    }
});
