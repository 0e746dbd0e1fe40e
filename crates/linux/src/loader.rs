//! The ELF loader for arm64 programs (`ET_EXEC` and `ET_DYN`/static-pie)
//! and their program interpreter.
//!
//! Segments are mapped from the file like `load_elf_binary` does: each
//! PT_LOAD's file pages privately at their virtual address, the tail of the
//! last file page zeroed, anonymous zero pages for the rest of the bss.
//! `ET_DYN` images go wherever the host kernel's `mmap` puts a reservation
//! of their whole span, so they never collide with xarch; `ET_EXEC` images
//! are placed with `MAP_FIXED_NOREPLACE` and fail cleanly on a collision.

use crate::error::LoadError;
use crate::mm::{GuestMemory, PAGE, host_prot, page_down, page_up};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A loaded ELF image.
#[derive(Clone, Debug)]
pub struct LoadedElf {
    /// Entry point (bias applied).
    pub entry: u64,
    /// Difference between run-time and link-time addresses (0 for ET_EXEC).
    pub bias: u64,
    /// Run-time address of the program headers.
    pub phdr: u64,
    /// Number of program headers.
    pub phnum: u64,
    /// Size of one program header.
    pub phent: u64,
    /// The PT_INTERP path, if any.
    pub interp: Option<String>,
    /// One past the highest loaded byte (start of the break).
    pub end: u64,
    /// Whether PT_GNU_STACK asks for an executable stack (or is absent).
    pub exec_stack: bool,
    /// `ET_DYN` (position independent).
    pub pie: bool,
}

/// A read-only private mapping of a whole file, for parsing.
struct FileMap {
    ptr: *mut libc::c_void,
    len: usize,
}

impl FileMap {
    fn new(file: &File, path: &Path) -> Result<FileMap, LoadError> {
        let len = file
            .metadata()
            .map_err(|source| LoadError::Io {
                path: path.into(),
                source,
            })?
            .len();
        if len < 4 {
            return Err(LoadError::NotElf(path.into()));
        }
        // SAFETY: a fresh read-only private mapping of the whole file.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(LoadError::Io {
                path: path.into(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(FileMap {
            ptr,
            len: len as usize,
        })
    }

    fn data(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Describes an ELF `e_machine` for error messages.
fn machine_name(m: u16) -> String {
    match m {
        elf::EM_X86_64 => "x86-64".into(),
        elf::EM_386 => "i386".into(),
        elf::EM_ARM => "32-bit arm".into(),
        elf::EM_RISCV => "riscv".into(),
        elf::EM_PPC64 => "powerpc64".into(),
        elf::EM_S390 => "s390x".into(),
        elf::EM_MIPS => "mips".into(),
        elf::EM_LOONGARCH => "loongarch".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        other => format!("machine {other}"),
    }
}

/// Checks the ELF identification of `data`: `Ok(())` for a 64-bit
/// little-endian aarch64 ELF.
pub fn check_ident(data: &[u8], path: &Path) -> Result<(), LoadError> {
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        return Err(LoadError::NotElf(path.into()));
    }
    if data.len() < 20 {
        return Err(LoadError::BadElf {
            path: path.into(),
            why: "truncated ELF header".into(),
        });
    }
    let class = data[4];
    let le = data[5] == 1;
    let machine = if le {
        u16::from_le_bytes([data[18], data[19]])
    } else {
        u16::from_be_bytes([data[18], data[19]])
    };
    if class != 2 || !le || machine != elf::EM_AARCH64 {
        let bits = if class == 1 { "32-bit " } else { "" };
        let endian = if le { "" } else { " big-endian" };
        return Err(LoadError::WrongArch {
            path: path.into(),
            what: format!("{bits}{}{endian}", machine_name(machine)),
        });
    }
    Ok(())
}

/// Whether `data` starts like an arm64 ELF executable.
pub fn is_guest_elf(data: &[u8]) -> bool {
    check_ident(data, Path::new("")).is_ok()
}

fn bad(path: &Path, why: impl Into<String>) -> LoadError {
    LoadError::BadElf {
        path: path.into(),
        why: why.into(),
    }
}

fn map_err(path: &Path, what: String) -> LoadError {
    LoadError::Map {
        path: path.into(),
        what,
        source: std::io::Error::last_os_error(),
    }
}

/// Loads the ELF image in `file` into guest memory. A position-independent
/// image also gets `reserve_after` bytes of PROT_NONE guest-owned address
/// space right after it (room for the program break).
pub fn load_elf(
    file: &File,
    path: &Path,
    mm: &mut GuestMemory,
    reserve_after: u64,
) -> Result<LoadedElf, LoadError> {
    let map = FileMap::new(file, path)?;
    let data = map.data();
    check_ident(data, path)?;
    let endian = object::Endianness::Little;
    let hdr = elf::FileHeader64::<object::Endianness>::parse(data)
        .map_err(|e| bad(path, e.to_string()))?;
    let pie = match hdr.e_type(endian) {
        elf::ET_EXEC => false,
        elf::ET_DYN => true,
        t => return Err(bad(path, format!("ELF type {t} is not an executable"))),
    };
    let phdrs = hdr
        .program_headers(endian, data)
        .map_err(|e| bad(path, format!("program headers: {e}")))?;
    let loads: Vec<_> = phdrs
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .collect();
    if loads.is_empty() {
        return Err(bad(path, "no loadable segments"));
    }
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    let mut max_align = PAGE;
    for p in &loads {
        let (off, va, fsz, msz) = (
            p.p_offset(endian),
            p.p_vaddr(endian),
            p.p_filesz(endian),
            p.p_memsz(endian),
        );
        if off.checked_add(fsz).is_none_or(|e| e > data.len() as u64) {
            return Err(bad(path, "truncated file: a segment extends past its end"));
        }
        if fsz > msz || va % PAGE != off % PAGE {
            return Err(bad(path, "inconsistent PT_LOAD segment"));
        }
        let end = va
            .checked_add(msz)
            .filter(|&e| e < crate::mm::TASK_SIZE)
            .ok_or_else(|| bad(path, "segment out of range"))?;
        lo = lo.min(page_down(va));
        hi = hi.max(page_up(end));
        let align = p.p_align(endian);
        if align.is_power_of_two() && align > max_align && align <= 1 << 21 {
            max_align = align;
        }
    }
    let span = hi - lo;

    // Reserve the whole span so that the segments and the gaps between them
    // belong to the guest.
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    let placed = if pie {
        let size = (span + reserve_after) as usize;
        mm.lock().place(0, span + reserve_after, max_align, |at| {
            // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping.
            unsafe {
                libc::mmap(
                    at as *mut _,
                    size,
                    libc::PROT_NONE,
                    flags | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            }
        })
    } else {
        None
    };
    let base = if let Some(at) = placed {
        at
    } else if pie {
        // SAFETY: a new reservation placed by the kernel.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                (span + reserve_after + max_align) as usize,
                libc::PROT_NONE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(map_err(path, format!("{span:#x} bytes")));
        }
        let p = p as u64;
        let aligned = (p + max_align - 1) & !(max_align - 1);
        // SAFETY: trimming our own reservation to the aligned span.
        unsafe {
            if aligned > p {
                libc::munmap(p as *mut _, (aligned - p) as usize);
            }
            let tail = aligned + span + reserve_after;
            let pend = p + span + reserve_after + max_align;
            if pend > tail {
                libc::munmap(tail as *mut _, (pend - tail) as usize);
            }
        }
        aligned
    } else {
        // SAFETY: MAP_FIXED_NOREPLACE fails rather than replacing anything.
        let p = unsafe {
            libc::mmap(
                lo as *mut _,
                span as usize,
                libc::PROT_NONE,
                flags | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p as u64 != lo {
            if p != libc::MAP_FAILED {
                // SAFETY: unmapping the misplaced reservation we just made.
                unsafe { libc::munmap(p, span as usize) };
            }
            return Err(map_err(
                path,
                format!("fixed address range {lo:#x}-{hi:#x}"),
            ));
        }
        lo
    };
    let bias = base.wrapping_sub(lo);
    mm.record(
        base,
        base + span + if pie { reserve_after } else { 0 },
        libc::PROT_NONE,
    );

    let fd = file.as_raw_fd();
    let mut end = 0;
    for p in &loads {
        let (off, va, fsz, msz) = (
            p.p_offset(endian),
            p.p_vaddr(endian),
            p.p_filesz(endian),
            p.p_memsz(endian),
        );
        let pf = p.p_flags(endian);
        let mut prot = 0;
        if pf & elf::PF_R != 0 {
            prot |= libc::PROT_READ;
        }
        if pf & elf::PF_W != 0 {
            prot |= libc::PROT_WRITE;
        }
        if pf & elf::PF_X != 0 {
            prot |= libc::PROT_EXEC;
        }
        let start = page_down(bias + va);
        let file_end = bias + va + fsz;
        let mem_end = bias + va + msz;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        if fsz > 0 {
            // SAFETY: inside our reservation.
            let r = unsafe {
                libc::mmap(
                    start as *mut _,
                    (page_up(file_end) - start) as usize,
                    rw,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    fd,
                    page_down(off) as i64,
                )
            };
            if r == libc::MAP_FAILED {
                return Err(map_err(path, format!("segment at {va:#x}")));
            }
            if msz > fsz {
                // SAFETY: the tail of the last file page, mapped writable above.
                unsafe {
                    std::ptr::write_bytes(
                        file_end as *mut u8,
                        0,
                        (page_up(file_end) - file_end) as usize,
                    )
                };
            }
        }
        let anon_start = if fsz > 0 { page_up(file_end) } else { start };
        if page_up(mem_end) > anon_start {
            // SAFETY: inside our reservation.
            let r = unsafe {
                libc::mmap(
                    anon_start as *mut _,
                    (page_up(mem_end) - anon_start) as usize,
                    rw,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r == libc::MAP_FAILED {
                return Err(map_err(path, format!("bss of segment at {va:#x}")));
            }
        }
        let seg_end = page_up(mem_end);
        // SAFETY: the segment just mapped.
        if unsafe { libc::mprotect(start as *mut _, (seg_end - start) as usize, host_prot(prot)) }
            != 0
        {
            return Err(map_err(path, format!("segment at {va:#x}")));
        }
        mm.record(start, seg_end, prot);
        end = end.max(mem_end);
    }

    let mut interp = None;
    let mut exec_stack = true;
    let mut phdr = None;
    for p in phdrs {
        match p.p_type(endian) {
            elf::PT_INTERP => {
                let bytes = p
                    .data(endian, data)
                    .map_err(|_| bad(path, "truncated PT_INTERP"))?;
                let s = bytes.split(|&b| b == 0).next().unwrap_or_default();
                interp = Some(String::from_utf8_lossy(s).into_owned());
            }
            elf::PT_GNU_STACK => exec_stack = p.p_flags(endian) & elf::PF_X != 0,
            elf::PT_PHDR => phdr = Some(p.p_vaddr(endian) + bias),
            _ => {}
        }
    }
    let phoff = hdr.e_phoff(endian);
    let phdr = phdr.or_else(|| {
        loads.iter().find_map(|p| {
            let off = p.p_offset(endian);
            (phoff >= off && phoff < off + p.p_filesz(endian))
                .then(|| p.p_vaddr(endian) + (phoff - off) + bias)
        })
    });
    Ok(LoadedElf {
        entry: hdr.e_entry(endian).wrapping_add(bias),
        bias,
        phdr: phdr.unwrap_or(0),
        phnum: hdr.e_phnum(endian) as u64,
        phent: hdr.e_phentsize(endian) as u64,
        interp,
        end,
        exec_stack,
        pie,
    })
}

/// Opens a program file with the error the user should see.
pub fn open_program(path: &Path) -> Result<File, LoadError> {
    File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound(path.into()),
        _ => LoadError::Io {
            path: path.into(),
            source,
        },
    })
}

/// Finds and loads the program interpreter named by PT_INTERP: under
/// `sysroot` first, then at its own path if that is an arm64 ELF.
pub fn load_interpreter(
    interp: &str,
    program: &Path,
    sysroot: Option<&Path>,
    mm: &mut GuestMemory,
) -> Result<LoadedElf, LoadError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(root) = sysroot {
        candidates.push(root.join(interp.trim_start_matches('/')));
    }
    candidates.push(PathBuf::from(interp));
    for c in &candidates {
        let Ok(file) = File::open(c) else { continue };
        let mut head = [0u8; 20];
        let n = std::os::unix::fs::FileExt::read_at(&file, &mut head, 0).unwrap_or(0);
        if !is_guest_elf(&head[..n]) {
            continue;
        }
        return load_elf(&file, c, mm, 0);
    }
    let hint = missing_interpreter_hint(interp, sysroot);
    Err(LoadError::MissingInterpreter {
        program: program.into(),
        interp: interp.into(),
        hint,
    })
}

/// Where xarch looked for a missing program interpreter and how to get
/// one, by loader name.
pub fn missing_interpreter_hint(interp: &str, sysroot: Option<&Path>) -> String {
    let looked = match sysroot {
        Some(root) => format!(" under {} or on the host", root.display()),
        None => " on the host".to_string(),
    };
    let name = interp.rsplit('/').next().unwrap_or(interp);
    let fix = if name.starts_with("ld-musl-aarch64") {
        "; it belongs to musl for arm64: install it (Debian: `apt-get download musl:arm64` \
         and `dpkg-deb -x` it into DIR; Alpine: an arm64 root file system) and run with \
         --sysroot DIR, or use a statically linked build of the program"
    } else if name.starts_with("ld-linux-aarch64") {
        "; it belongs to glibc for arm64: run with --sysroot DIR where DIR is an arm64 \
         root file system, or --sysroot /usr/aarch64-linux-gnu after \
         `apt-get install libc6-arm64-cross`"
    } else {
        "; run with --sysroot DIR where DIR is an arm64 root file system that has it"
    };
    format!("{looked}{fix}")
}

/// The PT_INTERP of any little-endian 64-bit ELF image in `data` (the
/// host's or the guest's), or `None` for a static one or a non-ELF file.
pub fn elf_interp(data: &[u8]) -> Option<String> {
    let endian = object::Endianness::Little;
    let hdr = elf::FileHeader64::<object::Endianness>::parse(data).ok()?;
    let phdrs = hdr.program_headers(endian, data).ok()?;
    let p = phdrs.iter().find(|p| p.p_type(endian) == elf::PT_INTERP)?;
    let bytes = p.data(endian, data).ok()?;
    let s = bytes.split(|&b| b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(s).into_owned())
}
