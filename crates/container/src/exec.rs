//! Choosing what to execve(2) for the container's command: the PATH lookup,
//! and the emulator injected in front of a foreign-architecture program so
//! no binfmt_misc handler is needed.

use crate::error::{Error, Result};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// ELF `e_machine` of x86_64 (the host: runs directly).
pub const EM_X86_64: u16 = 62;
/// ELF `e_machine` of AArch64.
pub const EM_AARCH64: u16 = 183;

/// How to start a foreign program: `path args... PROGRAM ARGS...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    /// The emulator binary as seen from inside the container. The default,
    /// `/proc/self/exe`, is xarch itself: the container's first process is
    /// a clone of xarch, and the magic link keeps working after pivot_root
    /// (the binary must be static, since the image's libraries are foreign).
    pub path: PathBuf,
    /// Arguments before the guest program.
    pub args: Vec<String>,
}

impl Default for Emulator {
    fn default() -> Self {
        Emulator {
            path: "/proc/self/exe".into(),
            args: vec!["run".into(), "--".into()],
        }
    }
}

impl Emulator {
    /// The static binary at `path` as the emulator, reached through an
    /// open file descriptor (`/proc/self/fd/N`), so it works after
    /// pivot_root although the file is not in the container's tree. The
    /// returned fd must stay open until the container has started; it is
    /// inheritable (the runtime marks it close-on-exec just before
    /// execve, which resolves the path first).
    pub fn from_static_binary(path: &Path) -> Result<(Self, std::os::fd::OwnedFd)> {
        use std::os::fd::AsRawFd;
        match has_interpreter(path) {
            Some(false) => {}
            Some(true) => {
                return Err(Error::Setup(format!(
                    "{} is dynamically linked: the emulator injected into a foreign image must be static",
                    path.display()
                )));
            }
            None => {
                return Err(Error::Setup(format!(
                    "{} is not an x86_64 ELF executable",
                    path.display()
                )));
            }
        }
        let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
        let fd: std::os::fd::OwnedFd = f.into();
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map_err(|e| Error::sys(format!("fcntl {}", path.display()), e))?;
        let emulator = Emulator {
            path: format!("/proc/self/fd/{}", fd.as_raw_fd()).into(),
            ..Emulator::default()
        };
        Ok((emulator, fd))
    }
}

/// The ELF machine of the file at `path`, or `None` when it is not ELF.
pub fn elf_machine(path: &Path) -> Option<u16> {
    let mut head = [0u8; 20];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if &head[..4] != b"\x7fELF" {
        return None;
    }
    let bytes = [head[18], head[19]];
    Some(match head[5] {
        2 => u16::from_be_bytes(bytes),
        _ => u16::from_le_bytes(bytes),
    })
}

/// Whether the ELF file at `path` names a program interpreter (PT_INTERP:
/// it is dynamically linked and needs the host's ld.so and libraries, which
/// a foreign image does not have). `None` when it is not a readable ELF64.
pub fn has_interpreter(path: &Path) -> Option<bool> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = [0u8; 64];
    f.read_exact(&mut h).ok()?;
    if &h[..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return None;
    }
    let phoff = u64::from_le_bytes(h[32..40].try_into().ok()?);
    let phentsize = u64::from(u16::from_le_bytes([h[54], h[55]]));
    let phnum = u64::from(u16::from_le_bytes([h[56], h[57]]));
    if phnum > 0 && phentsize < 4 {
        return None;
    }
    for i in 0..phnum {
        f.seek(SeekFrom::Start(
            phoff.checked_add(i.checked_mul(phentsize)?)?,
        ))
        .ok()?;
        let mut t = [0u8; 4];
        f.read_exact(&mut t).ok()?;
        if u32::from_le_bytes(t) == 3 {
            return Some(true);
        }
    }
    Some(false)
}

/// The interpreter line of a `#!` script: program and optional argument.
fn shebang(path: &Path) -> Option<(String, Option<String>)> {
    let mut buf = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    let text = buf[..n].strip_prefix(b"#!")?;
    let line = text.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    let (prog, arg) = match line.split_once([' ', '\t']) {
        Some((p, a)) => (p, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    (!prog.is_empty()).then(|| (prog.to_string(), arg))
}

/// Looks `name` up like execvp(3): a name with `/` is used as it is,
/// otherwise each `PATH` directory is tried. Paths are as seen by the
/// calling process (inside the container after pivot_root).
pub fn find_program(name: &str, path_var: &str, root: &Path) -> Result<PathBuf> {
    let host = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    if name.contains('/') {
        let meta =
            std::fs::metadata(host(Path::new(name))).map_err(|_| Error::NotFound(name.into()))?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::NotExecutable(name.into()));
        }
        return Ok(name.into());
    }
    let mut saw_non_executable = false;
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if let Ok(meta) = std::fs::metadata(host(&candidate)) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
            saw_non_executable = true;
        }
    }
    if saw_non_executable {
        Err(Error::NotExecutable(name.into()))
    } else {
        Err(Error::NotFound(name.into()))
    }
}

/// What to execve: the program itself when the host runs it natively,
/// else the emulator with the program (or a script's foreign interpreter)
/// as its argument. `argv` is the container command line; `program` its
/// resolved path; `root` maps container paths to the files to inspect.
pub fn exec_plan(
    program: &Path,
    argv: &[String],
    emulator: &Emulator,
    root: &Path,
) -> (PathBuf, Vec<String>) {
    let host = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let native = (program.to_path_buf(), argv.to_vec());
    let foreign_argv = match elf_machine(&host(program)) {
        Some(EM_X86_64) => return native,
        Some(_) => {
            let mut v = vec![program.to_string_lossy().into_owned()];
            v.extend(argv.iter().skip(1).cloned());
            v
        }
        None => {
            // A script: the kernel would load its interpreter, which may be foreign.
            let Some((interp, arg)) = shebang(&host(program)) else {
                return native;
            };
            match elf_machine(&host(Path::new(&interp))) {
                Some(m) if m != EM_X86_64 => {
                    let mut v = vec![interp];
                    v.extend(arg);
                    v.push(program.to_string_lossy().into_owned());
                    v.extend(argv.iter().skip(1).cloned());
                    v
                }
                _ => return native,
            }
        }
    };
    let mut args = vec!["xarch".to_string()];
    args.extend(emulator.args.iter().cloned());
    args.extend(foreign_argv);
    (emulator.path.clone(), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    fn write_exec(path: &Path, data: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn interpreter_detection() {
        // /bin/sh on the host is dynamically linked; an ELF header without
        // program headers is static; a script is not ELF.
        assert_eq!(has_interpreter(Path::new("/bin/sh")), Some(true));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, elf(EM_X86_64)).unwrap();
        assert_eq!(has_interpreter(&p), Some(false));
        let mut with_interp = elf(EM_X86_64);
        with_interp[32..40].copy_from_slice(&64u64.to_le_bytes());
        with_interp[54..56].copy_from_slice(&56u16.to_le_bytes());
        with_interp[56..58].copy_from_slice(&1u16.to_le_bytes());
        with_interp.extend_from_slice(&3u32.to_le_bytes());
        with_interp.resize(64 + 56, 0);
        std::fs::write(&p, with_interp).unwrap();
        assert_eq!(has_interpreter(&p), Some(true));
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        assert_eq!(has_interpreter(&p), None);
    }

    #[test]
    fn machine_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, elf(EM_AARCH64)).unwrap();
        assert_eq!(elf_machine(&p), Some(EM_AARCH64));
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        assert_eq!(elf_machine(&p), None);
        let mut be = elf(0);
        be[5] = 2;
        be[18..20].copy_from_slice(&8u16.to_be_bytes());
        std::fs::write(&p, be).unwrap();
        assert_eq!(elf_machine(&p), Some(8));
        // The host's own binaries are x86_64.
        assert_eq!(elf_machine(Path::new("/proc/self/exe")), Some(EM_X86_64));
    }

    #[test]
    fn native_runs_directly_foreign_gets_emulator() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_exec(&root.join("bin/native"), &elf(EM_X86_64));
        write_exec(&root.join("bin/arm"), &elf(EM_AARCH64));
        write_exec(&root.join("bin/armsh"), &elf(EM_AARCH64));
        write_exec(&root.join("bin/s1"), b"#!/bin/armsh -e\necho\n");
        write_exec(&root.join("bin/s2"), b"#!/bin/native\necho\n");
        let emu = Emulator::default();
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        let (p, a) = exec_plan(
            Path::new("/bin/native"),
            &argv(&["native", "x"]),
            &emu,
            root,
        );
        assert_eq!(
            (p, a),
            (PathBuf::from("/bin/native"), argv(&["native", "x"]))
        );

        let (p, a) = exec_plan(Path::new("/bin/arm"), &argv(&["arm", "x"]), &emu, root);
        assert_eq!(p, PathBuf::from("/proc/self/exe"));
        assert_eq!(a, argv(&["xarch", "run", "--", "/bin/arm", "x"]));

        let (p, a) = exec_plan(Path::new("/bin/s1"), &argv(&["s1", "y"]), &emu, root);
        assert_eq!(p, PathBuf::from("/proc/self/exe"));
        assert_eq!(
            a,
            argv(&["xarch", "run", "--", "/bin/armsh", "-e", "/bin/s1", "y"])
        );

        let (p, _) = exec_plan(Path::new("/bin/s2"), &argv(&["s2"]), &emu, root);
        assert_eq!(p, PathBuf::from("/bin/s2"));
    }

    #[test]
    fn path_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_exec(&root.join("usr/bin/tool"), b"x");
        std::fs::write(root.join("usr/bin/data"), b"x").unwrap();
        assert_eq!(
            find_program("tool", "/bin:/usr/bin", root).unwrap(),
            PathBuf::from("/usr/bin/tool")
        );
        assert!(matches!(
            find_program("nope", "/bin:/usr/bin", root),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            find_program("data", "/usr/bin", root),
            Err(Error::NotExecutable(_))
        ));
        assert!(matches!(
            find_program("/usr/bin", "", root),
            Err(Error::NotExecutable(_))
        ));
        assert_eq!(
            find_program("/usr/bin/tool", "", root).unwrap(),
            PathBuf::from("/usr/bin/tool")
        );
        assert_eq!(Error::NotFound("x".into()).exit_status(), 127);
        assert_eq!(Error::NotExecutable("x".into()).exit_status(), 126);
    }
}
