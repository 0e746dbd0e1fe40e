//! The layer unpacker on arbitrary (possibly compressed) bytes: errors only,
//! and nothing written outside the target directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xarch_oci::unpack::{UnpackOptions, Unpacker, decompress};

fuzz_target!(|data: &[u8]| {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    if let Ok(mut u) = Unpacker::new(&root, UnpackOptions { chown: false }) {
        if let Ok(r) = decompress(data) {
            let _ = u.apply_layer(r);
        }
        let _ = u.finish();
    }
    let entries: Vec<_> = std::fs::read_dir(t.path()).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "unpacker wrote outside its root");
    let _ = xarch_oci::store::remove_tree(t.path());
});
