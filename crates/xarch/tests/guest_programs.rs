//! The project's own guest C programs (tests/guest/*.c): each arm64 build
//! (-O0 and -O2) runs under the runner and must print exactly what the native
//! x86_64 build of the same source prints, with the same exit status. The
//! programs check architecture-specific values (AT_PLATFORM, uname -m,
//! the signal raised by a trap instruction) themselves and print only "ok".
//!
//! Fixtures: `tests/guest/build.sh` (see docs/TESTING.md).

mod common;

use common::{Status, TempDir};
use std::ffi::OsString;
use std::path::Path;

const ARGS: [&str; 4] = ["arg1", "two words", "", "-x=\u{e9}\u{1f600}"];
const ENV: [(&str, &str); 4] = [
    ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    ("XT_HELLO", "hi there"),
    ("XT_EMPTY", ""),
    ("LC_ALL", "C"),
];

fn compare(name: &str, opt: &str) {
    let dir = common::cache_dir().join("guest");
    let (Some(arm), Some(native)) = (
        common::fixture(
            dir.join(format!("aarch64-{opt}")).join(name),
            "tests/guest/build.sh",
        ),
        common::fixture(
            dir.join(format!("x86_64-{opt}")).join(name),
            "tests/guest/build.sh",
        ),
    ) else {
        return;
    };
    let one = |bin: &Path, prefix: Vec<OsString>, tag: &str| {
        let tmp = TempDir::new(&format!("guest-{name}-{opt}-{tag}"));
        let mut argv = prefix;
        argv.push(bin.into());
        argv.extend(ARGS.iter().map(OsString::from));
        let mut out = common::run(&argv, tmp.path(), &ENV, b"");
        out.stderr = common::normalize(&out.stderr, &[(tmp.path().to_str().unwrap(), "$TMP")]);
        out
    };
    let want = one(&native, Vec::new(), "x86_64");
    assert!(
        want.status == Status::Exit(0) && want.stdout.ends_with(b"failures: 0\n"),
        "{name} -{opt}: the native x86_64 build itself fails:\n{want:?}"
    );
    let got = one(&arm, common::runner(), "aarch64");
    common::assert_same(&format!("{name} -{opt}"), &want, &got);
}

macro_rules! guest_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            compare(stringify!($name), "O0");
            compare(stringify!($name), "O2");
        }
    )*};
}

guest_tests!(
    loader, memory, procs, signals, fileio, timecheck, compute, threads
);

/// Every source file in tests/guest has a test above: a new program cannot
/// be silently left out.
#[test]
fn every_guest_program_is_tested() {
    let known = [
        "loader",
        "memory",
        "procs",
        "signals",
        "fileio",
        "timecheck",
        "compute",
        "threads",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/guest");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "c") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                known.contains(&stem.as_str()),
                "tests/guest/{stem}.c has no test in guest_programs.rs"
            );
        }
    }
}
