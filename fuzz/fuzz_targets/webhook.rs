#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| switchboard_fuzz::webhook(body));
