//! Manifest, index and config parsing, and platform selection, must return
//! errors (never panic) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xarch_oci::{Platform, store};

fuzz_target!(|data: &[u8]| {
    let _ = store::parse_manifest(data);
    let _ = store::parse_config(data);
    if let Ok(idx) = store::parse_index(data) {
        for p in ["linux/arm64", "linux/amd64", "linux/arm/v7"] {
            let _ = store::select_platform(&idx, &Platform::parse(p).unwrap(), "fuzz");
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Platform::parse(s);
        let _ = store::parse_reference(s);
        let _ = xarch_oci::registry::parse_challenge(s);
    }
});
