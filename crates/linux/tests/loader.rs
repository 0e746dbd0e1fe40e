//! Loader tests with real arm64 ELF files: small C programs cross-compiled
//! by `aarch64-linux-gnu-gcc` (static, static-pie, dynamic) and Debian's
//! arm64 busybox-static. Tests skip with a message when a tool or the
//! package is unavailable.

use object::read::elf::{ElfFile64, FileHeader};
use object::{Object, ObjectSymbol};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use xarch_a64::state::A64State;
use xarch_linux::abi::at;
use xarch_linux::process::Process;
use xarch_linux::{GuestConfig, LoadError, Program};

/// ET_EXEC images all want the same fixed addresses: one load at a time.
static LOCK: Mutex<()> = Mutex::new(());

fn cache_dir() -> PathBuf {
    let d = std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"));
    let d = d.join("linux-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

const PROGRAM: &str = r#"
int data_var = 0x12345678;
char bss_buf[100000];
int main(int argc, char **argv) { return data_var + bss_buf[5] + argc; }
"#;

/// Cross-compiles PROGRAM with `flags` into the cache, or None to skip.
fn build(name: &str, flags: &[&str]) -> Option<PathBuf> {
    let dir = cache_dir();
    let out = dir.join(format!("{name}-v1"));
    if out.exists() {
        return Some(out);
    }
    let src = dir.join("program-v1.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let tmp = dir.join(format!("{name}-v1.tmp{}", std::process::id()));
    match Command::new("aarch64-linux-gnu-gcc")
        .args(flags)
        .arg("-O1")
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .status()
    {
        Ok(s) if s.success() => {
            std::fs::rename(&tmp, &out).unwrap();
            Some(out)
        }
        _ => {
            eprintln!("skipping: aarch64-linux-gnu-gcc is not available");
            None
        }
    }
}

/// Debian's arm64 busybox-static, downloaded into the cache once.
/// Debian's arm64 busybox-static (pinned), downloaded once into the cache.
/// Tests run in parallel: one fetches while the others wait, and the
/// result appears atomically (a rename), so nobody reads a partial file.
fn busybox() -> Option<PathBuf> {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir().join("busybox-1.35.0-4+deb12u1+b1");
    let bin = dir.join("bin/busybox");
    if bin.exists() {
        return Some(bin);
    }
    let tmp = cache_dir().join(format!("busybox.tmp.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let ok = Command::new("apt-get")
        .args(["download", "busybox-static:arm64=1:1.35.0-4+deb12u1+b1"])
        .current_dir(&tmp)
        .status()
        .is_ok_and(|s| s.success());
    let deb = std::fs::read_dir(&tmp)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"));
    let extracted = match (ok, deb) {
        (true, Some(deb)) => Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&tmp)
            .status()
            .is_ok_and(|s| s.success()),
        _ => false,
    };
    if !extracted {
        let _ = std::fs::remove_dir_all(&tmp);
        eprintln!("skipping: cannot download busybox-static:arm64");
        return None;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).unwrap();
    Some(bin)
}

fn config(path: &Path, argv: &[&str], sysroot: Option<&Path>) -> GuestConfig {
    GuestConfig {
        program: Program::Path(path.into()),
        argv: argv.iter().map(OsString::from).collect(),
        env: vec!["HOME=/root".into(), "TERM=dumb".into()],
        sysroot: sysroot.map(Into::into),
        strace: false,
        log_unimplemented: false,
        backend: Default::default(),
    }
}

fn word(a: u64) -> u64 {
    // SAFETY: tests read guest memory the loader just mapped.
    unsafe { *(a as *const u64) }
}

fn auxv(state: &A64State) -> std::collections::HashMap<u64, u64> {
    let argc = word(state.sp);
    let mut a = state.sp + 8 * (argc + 2);
    while word(a) != 0 {
        a += 8;
    }
    a += 8;
    let mut m = std::collections::HashMap::new();
    while word(a) != at::NULL {
        m.insert(word(a), word(a + 8));
        a += 16;
    }
    m
}

fn symbol(elf: &ElfFile64, name: &str) -> u64 {
    elf.symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name}"))
        .address()
}

/// Loads `path` and checks what every image must satisfy; returns the
/// process, state and the load bias.
fn check_image(path: &Path) -> (Process, A64State, u64) {
    let data = std::fs::read(path).unwrap();
    let elf = ElfFile64::<object::Endianness>::parse(&*data).unwrap();
    let (mut p, state) = Process::load(config(path, &["prog", "arg1"], None)).unwrap();
    let aux = auxv(&state);
    let e_entry = elf.elf_header().e_entry(object::Endianness::Little);
    let bias = aux[&at::ENTRY] - e_entry;
    assert_eq!(bias % 4096, 0);
    assert_eq!(aux[&at::BASE], 0);
    assert_eq!(state.pc, aux[&at::ENTRY]);
    assert_eq!(state.sp % 16, 0);
    assert_eq!(word(state.sp), 2);
    // AT_PHDR points at the program headers as in the file.
    let phoff = elf.elf_header().e_phoff(object::Endianness::Little) as usize;
    let n = aux[&at::PHNUM] as usize * aux[&at::PHENT] as usize;
    // SAFETY: AT_PHDR points into the loaded image.
    let mem = unsafe { std::slice::from_raw_parts(aux[&at::PHDR] as *const u8, n) };
    assert_eq!(mem, &data[phoff..phoff + n]);
    // Code is mapped from the file, executable for the guest.
    let main = symbol(&elf, "main") + bias;
    assert_ne!(p.mm.prot_at(main).unwrap() & libc::PROT_EXEC, 0);
    let off = elf
        .sections()
        .find(|s| object::ObjectSection::name(s) == Ok(".text"))
        .map(|s| {
            let (o, _) = object::ObjectSection::file_range(&s).unwrap();
            (object::ObjectSection::address(&s), o)
        });
    let (text_va, text_off) = off.unwrap();
    let main_off = (symbol(&elf, "main") - text_va + text_off) as usize;
    // SAFETY: main is inside the loaded image.
    let code = unsafe { std::slice::from_raw_parts(main as *const u8, 16) };
    assert_eq!(code, &data[main_off..main_off + 16]);
    // Data initialised, bss zero and writable.
    let data_var = symbol(&elf, "data_var") + bias;
    // SAFETY: data_var is inside the loaded image.
    assert_eq!(unsafe { *(data_var as *const u32) }, 0x1234_5678);
    let bss = symbol(&elf, "bss_buf") + bias;
    // SAFETY: bss_buf is inside the loaded image.
    let bss_mem = unsafe { std::slice::from_raw_parts(bss as *const u8, 100_000) };
    assert!(bss_mem.iter().all(|&b| b == 0));
    assert_ne!(p.mm.prot_at(bss + 99_999).unwrap() & libc::PROT_WRITE, 0);
    // The break starts after the bss.
    assert!(p.mm.brk_start() >= bss + 100_000 && p.mm.brk_start() % 4096 == 0);
    // Reserved for the break, not yet usable.
    assert_eq!(p.mm.prot_at(p.mm.brk_start()), Some(libc::PROT_NONE));
    assert_eq!(
        p.mm.brk_limit(),
        p.mm.brk_start() + xarch_linux::process::BRK_RESERVE
    );
    let b = p.mm.brk_start();
    assert_eq!(p.mm.brk(b + 5000), b + 5000);
    // SAFETY: the break was just grown past this byte.
    unsafe { *((b + 4999) as *mut u8) = 1 };
    p.mm.unmap_all();
    (p, state, bias)
}

#[test]
fn static_exec_loads_at_its_address() {
    let Some(prog) = build("static", &["-static", "-no-pie"]) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _, bias) = check_image(&prog);
    assert_eq!(bias, 0);
}

#[test]
fn static_pie_loads_anywhere() {
    let Some(prog) = build("static-pie", &["-static-pie", "-fPIE"]) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _, bias) = check_image(&prog);
    assert_ne!(bias, 0);
}

#[test]
fn dynamic_program_loads_its_interpreter_from_sysroot() {
    let Some(prog) = build("dynamic", &[]) else {
        return;
    };
    let sysroot = Path::new("/usr/aarch64-linux-gnu");
    if !sysroot.join("lib/ld-linux-aarch64.so.1").exists() {
        eprintln!("skipping: no arm64 ld.so under {}", sysroot.display());
        return;
    }
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (mut p, state) = Process::load(config(&prog, &["prog"], Some(sysroot))).unwrap();
    let aux = auxv(&state);
    let base = aux[&at::BASE];
    assert!(base != 0 && base.is_multiple_of(4096));
    assert_ne!(state.pc, aux[&at::ENTRY], "starts in the interpreter");
    // The interpreter's ELF header is mapped at AT_BASE.
    // SAFETY: AT_BASE is the interpreter's first page.
    assert_eq!(unsafe { *(base as *const [u8; 4]) }, *b"\x7fELF");
    p.mm.unmap_all();

    // Without it, a clear error naming the loader.
    let err = Process::load(config(
        &prog,
        &["prog"],
        Some(Path::new("/nonexistent-sysroot")),
    ))
    .err();
    if Path::new("/lib/ld-linux-aarch64.so.1").exists() {
        eprintln!("skipping the missing-loader half: the host has an arm64 ld.so");
        return;
    }
    let err = err.expect("load must fail");
    assert_eq!(err.exit_code(), 121);
    let msg = err.to_string();
    assert!(
        msg.contains("/lib/ld-linux-aarch64.so.1") && msg.contains("--sysroot"),
        "{msg}"
    );
}

fn load_err(path: &Path) -> LoadError {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    match Process::load(config(path, &["x"], None)) {
        Ok((mut p, _)) => {
            p.mm.unmap_all();
            panic!("{} loaded", path.display())
        }
        Err(e) => e,
    }
}

#[test]
fn bad_programs_fail_with_distinct_statuses() {
    let dir = cache_dir();
    let text = dir.join("not-elf.txt");
    std::fs::write(&text, "#!/bin/sh\necho hi\n").unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    let mut codes = vec![];
    let e = load_err(Path::new("/nonexistent/prog"));
    assert!(matches!(e, LoadError::NotFound(_)));
    codes.push(e.exit_code());
    let e = load_err(&text);
    assert!(matches!(e, LoadError::NotElf(_)), "{e}");
    codes.push(e.exit_code());
    assert_eq!(load_err(&empty).exit_code(), 124);
    let e = load_err(Path::new("/proc/self/exe"));
    assert!(e.to_string().contains("x86-64"), "{e}");
    codes.push(e.exit_code());
    let e = load_err(Path::new("/"));
    assert!(matches!(e, LoadError::Io { .. }), "{e}");
    codes.push(e.exit_code());
    if let Some(prog) = build("static", &["-static", "-no-pie"]) {
        let data = std::fs::read(&prog).unwrap();
        let cut = dir.join("truncated");
        std::fs::write(&cut, &data[..data.len() / 3]).unwrap();
        let e = load_err(&cut);
        assert!(matches!(e, LoadError::BadElf { .. }), "{e}");
        codes.push(e.exit_code());
        let cut = dir.join("truncated-header");
        std::fs::write(&cut, &data[..40]).unwrap();
        assert_eq!(load_err(&cut).exit_code(), 122);
    }
    let n = codes.len();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), n, "exit statuses must be distinct");
}

#[test]
fn busybox_loads() {
    let Some(bb) = busybox() else { return };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (mut p, state) = Process::load(config(&bb, &["sh", "-c", "echo hi"], None)).unwrap();
    let aux = auxv(&state);
    assert_eq!(state.pc, aux[&at::ENTRY]);
    assert_eq!(word(state.sp), 3);
    assert_eq!(aux[&at::HWCAP], xarch_linux::abi::GUEST_HWCAP);
    // SAFETY: argv[0] points into the stack.
    let argv0 = unsafe { std::ffi::CStr::from_ptr(word(state.sp + 8) as *const libc::c_char) };
    assert_eq!(argv0.to_bytes(), b"sh");
    assert!(p.exe.is_absolute() && p.exe.ends_with("bin/busybox"));
    // The first instruction is mapped and readable.
    assert_ne!(p.mm.prot_at(state.pc).unwrap() & libc::PROT_EXEC, 0);
    p.mm.unmap_all();
}

#[test]
fn execve_of_arm64_programs_and_scripts_reenters_xarch() {
    use xarch_linux::syscall::proc::{ExecPlan, plan_exec};
    let Some(bb) = busybox() else { return };
    let bbp = bb.to_str().unwrap().as_bytes().to_vec();
    let plan = plan_exec(&bbp, &[b"ls".to_vec(), b"-l".to_vec()]).unwrap();
    assert_eq!(
        plan,
        ExecPlan::Emulate {
            prog: bbp.clone(),
            argv0: b"ls".to_vec(),
            args: vec![b"-l".to_vec()]
        }
    );
    // A script whose interpreter is an arm64 program.
    let script = cache_dir().join("script.sh");
    std::fs::write(&script, format!("#!{} sh\necho hi\n", bb.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sp = script.to_str().unwrap().as_bytes().to_vec();
    let plan = plan_exec(&sp, &[b"script".to_vec(), b"x".to_vec()]).unwrap();
    assert_eq!(
        plan,
        ExecPlan::Emulate {
            prog: bbp.clone(),
            argv0: bbp,
            args: vec![b"sh".to_vec(), sp, b"x".to_vec()]
        }
    );
    // A non-executable file is EACCES.
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert_eq!(
        plan_exec(script.to_str().unwrap().as_bytes(), &[]),
        Err(libc::EACCES)
    );
}

#[test]
fn static_program_runs_to_its_exit_status() {
    let Some(prog) = build("static", &["-static", "-no-pie"]) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // main returns data_var + bss_buf[5] + argc = 0x12345678 + 0 + 2.
    match xarch_linux::run_guest(config(&prog, &["prog", "a"], None)).unwrap() {
        xarch_linux::GuestExit::Signaled(libc::SIGILL) => {
            eprintln!("skipping: the engine does not execute guest code yet")
        }
        other => assert_eq!(other, xarch_linux::GuestExit::Exited(0x7a)),
    }
}
