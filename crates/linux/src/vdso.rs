//! The guest vDSO: a small arm64 ELF shared object that xarch maps into
//! every guest and announces with `AT_SYSINFO_EHDR`, as the kernel does.
//!
//! It exports what Linux's arm64 vDSO exports (`__kernel_clock_gettime`,
//! `__kernel_gettimeofday`, `__kernel_clock_getres`,
//! `__kernel_rt_sigreturn`, version `LINUX_2.6.39`), so glibc, musl and
//! Go find the time calls there. Each time call is `mov x8, #nr; svc
//! #VDSO_CALL_IMM; ret`, which the lifter turns into an inline call to the
//! host's clock (see `xarch_a64::vdso`); as plain code it is still the
//! right system call. The image is generated here, byte by byte, because
//! it is tiny and must not need an arm64 toolchain to build xarch.

use crate::mm::GuestMemory;
use xarch_a64::vdso::{NR_CLOCK_GETRES, NR_CLOCK_GETTIME, NR_GETTIMEOFDAY, VDSO_CALL_IMM};

/// The image's size: one page.
pub const SIZE: usize = 4096;

const SONAME: &str = "linux-vdso.so.1";
const VERSION: &str = "LINUX_2.6.39";

fn mov_x8(imm: u64) -> u32 {
    0xd280_0008 | ((imm as u32) << 5)
}
const SVC_FAST: u32 = 0xd400_0001 | ((VDSO_CALL_IMM as u32) << 5);
const SVC_0: u32 = 0xd400_0001;
const RET: u32 = 0xd65f_03c0;
const NR_RT_SIGRETURN: u64 = 139;

/// The System V ELF hash (used by DT_HASH and the version records).
fn elf_hash(name: &str) -> u32 {
    let mut h: u32 = 0;
    for &b in name.as_bytes() {
        h = (h << 4).wrapping_add(b as u32);
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// Little-endian writer at explicit offsets.
struct Image(Vec<u8>);

impl Image {
    fn put(&mut self, off: usize, bytes: &[u8]) {
        self.0[off..off + bytes.len()].copy_from_slice(bytes);
    }
    fn u16(&mut self, off: usize, v: u16) {
        self.put(off, &v.to_le_bytes())
    }
    fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_le_bytes())
    }
    fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_le_bytes())
    }
}

/// Builds the image, linked at address 0 (file offsets equal addresses).
/// Returns it with the symbol table `(name, offset)`.
pub fn build() -> (Vec<u8>, Vec<(&'static str, u64)>) {
    // Layout: header, 2 program headers, hash, dynsym, versym, verdef,
    // dynstr, dynamic, code.
    const PHOFF: usize = 64;
    const HASH: usize = 0x100;
    let funcs: [(&'static str, [u32; 3]); 4] = [
        (
            "__kernel_clock_gettime",
            [mov_x8(NR_CLOCK_GETTIME), SVC_FAST, RET],
        ),
        (
            "__kernel_gettimeofday",
            [mov_x8(NR_GETTIMEOFDAY), SVC_FAST, RET],
        ),
        (
            "__kernel_clock_getres",
            [mov_x8(NR_CLOCK_GETRES), SVC_FAST, RET],
        ),
        // The signal return trampoline has no RET: rt_sigreturn does not return.
        (
            "__kernel_rt_sigreturn",
            [mov_x8(NR_RT_SIGRETURN), SVC_0, 0xd503_201f],
        ),
    ];
    let nsyms = funcs.len() + 1;

    // String table.
    let mut strtab = vec![0u8];
    let mut add_str = |s: &str| {
        let off = strtab.len() as u32;
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
        off
    };
    let soname_off = add_str(SONAME);
    let version_off = add_str(VERSION);
    let name_offs: Vec<u32> = funcs.iter().map(|(n, _)| add_str(n)).collect();

    let hash_size = 4 * (2 + 1 + nsyms);
    let dynsym = (HASH + hash_size + 7) & !7;
    let versym = dynsym + 24 * nsyms;
    let verdef = (versym + 2 * nsyms + 3) & !3;
    let verdef_size = 2 * (20 + 8);
    let dynstr = verdef + verdef_size;
    let dynamic = (dynstr + strtab.len() + 7) & !7;
    let dyn_entries: usize = 10;
    let code = (dynamic + 16 * dyn_entries + 15) & !15;
    let end = code + 16 * funcs.len();
    assert!(end <= SIZE);

    let mut im = Image(vec![0; SIZE]);
    // ELF header: ELFCLASS64, little-endian, ET_DYN, EM_AARCH64.
    im.put(0, b"\x7fELF\x02\x01\x01\x00");
    im.u16(16, 3);
    im.u16(18, 183);
    im.u32(20, 1);
    im.u64(24, 0); // e_entry
    im.u64(32, PHOFF as u64);
    im.u64(40, 0); // no section headers
    im.u16(52, 64);
    im.u16(54, 56);
    im.u16(56, 2);
    im.u16(58, 64);
    // PT_LOAD, R+X, the whole page.
    let ph = PHOFF;
    im.u32(ph, 1);
    im.u32(ph + 4, 5);
    im.u64(ph + 32, SIZE as u64);
    im.u64(ph + 40, SIZE as u64);
    im.u64(ph + 48, 4096);
    // PT_DYNAMIC, R.
    let ph = PHOFF + 56;
    im.u32(ph, 2);
    im.u32(ph + 4, 4);
    for field in [8, 16, 24] {
        im.u64(ph + field, dynamic as u64);
    }
    im.u64(ph + 32, (16 * dyn_entries) as u64);
    im.u64(ph + 40, (16 * dyn_entries) as u64);
    im.u64(ph + 48, 8);

    // DT_HASH with one bucket chaining every symbol.
    im.u32(HASH, 1);
    im.u32(HASH + 4, nsyms as u32);
    im.u32(HASH + 8, (nsyms - 1) as u32);
    for i in 1..nsyms {
        im.u32(HASH + 12 + 4 * i, (i - 1) as u32);
    }
    // Symbols: global functions in a defined (non-zero) section.
    let mut syms = Vec::new();
    for (i, ((name, _), name_off)) in funcs.iter().zip(&name_offs).enumerate() {
        let s = dynsym + 24 * (i + 1);
        let addr = (code + 16 * i) as u64;
        im.u32(s, *name_off);
        im.put(s + 4, &[0x12, 0]); // STB_GLOBAL, STT_FUNC; default visibility
        im.u16(s + 6, 1);
        im.u64(s + 8, addr);
        im.u64(s + 16, 12);
        syms.push((*name, addr));
        im.u16(versym + 2 * (i + 1), 2);
    }
    // Version definitions: 1 = the object itself, 2 = LINUX_2.6.39.
    for (k, (flags, name_off, name)) in [(1u16, soname_off, SONAME), (0, version_off, VERSION)]
        .into_iter()
        .enumerate()
    {
        let d = verdef + 28 * k;
        im.u16(d, 1);
        im.u16(d + 2, flags);
        im.u16(d + 4, k as u16 + 1);
        im.u16(d + 6, 1);
        im.u32(d + 8, elf_hash(name));
        im.u32(d + 12, 20);
        im.u32(d + 16, if k == 0 { 28 } else { 0 });
        im.u32(d + 20, name_off);
        im.u32(d + 24, 0);
    }
    im.put(dynstr, &strtab);
    let dyns: [(u64, u64); 10] = [
        (14, soname_off as u64),      // DT_SONAME
        (4, HASH as u64),             // DT_HASH
        (5, dynstr as u64),           // DT_STRTAB
        (6, dynsym as u64),           // DT_SYMTAB
        (10, strtab.len() as u64),    // DT_STRSZ
        (11, 24),                     // DT_SYMENT
        (0x6fff_fff0, versym as u64), // DT_VERSYM
        (0x6fff_fffc, verdef as u64), // DT_VERDEF
        (0x6fff_fffd, 2),             // DT_VERDEFNUM
        (0, 0),                       // DT_NULL
    ];
    for (i, (tag, val)) in dyns.iter().enumerate() {
        im.u64(dynamic + 16 * i, *tag);
        im.u64(dynamic + 16 * i + 8, *val);
    }
    for (i, (_, words)) in funcs.iter().enumerate() {
        for (j, w) in words.iter().enumerate() {
            im.u32(code + 16 * i + 4 * j, *w);
        }
    }
    (im.0, syms)
}

/// A mapped guest vDSO.
#[derive(Clone, Copy, Debug)]
pub struct Mapped {
    /// Its address (`AT_SYSINFO_EHDR`).
    pub base: u64,
    /// Address of `__kernel_rt_sigreturn`.
    pub sigreturn: u64,
}

/// Maps the vDSO into the guest (read + execute), or nothing when
/// `XARCH_NO_VDSO=1` asks for none (every time call is then a system
/// call, as before xarch had a vDSO).
pub fn map(mm: &mut GuestMemory) -> std::io::Result<Option<Mapped>> {
    if std::env::var_os("XARCH_NO_VDSO").is_some_and(|v| v == "1") {
        xarch_a64::vdso::set_range(0, 0);
        return Ok(None);
    }
    let (image, syms) = build();
    let sigreturn = syms
        .iter()
        .find(|s| s.0 == "__kernel_rt_sigreturn")
        .map_or(0, |s| s.1);
    let base = mm
        .mmap(
            0,
            SIZE as u64,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
        .map_err(std::io::Error::from_raw_os_error)?;
    // SAFETY: the page was just mapped writable and is SIZE bytes long.
    unsafe { std::ptr::copy_nonoverlapping(image.as_ptr(), base as *mut u8, SIZE) };
    mm.mprotect(base, SIZE as u64, libc::PROT_READ | libc::PROT_EXEC)
        .map_err(std::io::Error::from_raw_os_error)?;
    xarch_a64::vdso::set_range(base, SIZE as u64);
    Ok(Some(Mapped {
        base,
        sigreturn: base + sigreturn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader};
    use object::{Endianness, elf};

    #[test]
    fn image_is_a_shared_object_with_versioned_time_symbols() {
        let (image, syms) = build();
        let f = ElfFile64::<Endianness>::parse(&image[..]).expect("parses");
        let hdr = f.elf_header();
        let e = Endianness::Little;
        assert_eq!(hdr.e_type(e), elf::ET_DYN);
        assert_eq!(hdr.e_machine(e), elf::EM_AARCH64);
        let phs = hdr.program_headers(e, &image[..]).unwrap();
        assert_eq!(phs[0].p_type(e), elf::PT_LOAD);
        assert_eq!(phs[0].p_flags(e), elf::PF_R | elf::PF_X);
        assert_eq!(phs[1].p_type(e), elf::PT_DYNAMIC);
        // Walk the dynamic section the way ld.so does.
        let dynamic = phs[1].dynamic(e, &image[..]).unwrap().unwrap();
        let get = |tag: u32| {
            dynamic
                .iter()
                .find(|d| d.d_tag(e) == tag as u64)
                .map(|d| d.d_val(e) as usize)
        };
        let (strtab, symtab) = (get(elf::DT_STRTAB).unwrap(), get(elf::DT_SYMTAB).unwrap());
        let cstr = |off: usize| {
            let s = &image[strtab + off..];
            std::str::from_utf8(&s[..s.iter().position(|&b| b == 0).unwrap()]).unwrap()
        };
        assert_eq!(cstr(get(elf::DT_SONAME).unwrap()), SONAME);
        // The hash table finds every symbol.
        let hash = get(elf::DT_HASH).unwrap();
        let word =
            |off: usize| u32::from_le_bytes(image[off..off + 4].try_into().unwrap()) as usize;
        let nchain = word(hash + 4);
        let versym = get(elf::DT_VERSYM).unwrap();
        for (name, addr) in &syms {
            let mut i = word(hash + 8 + 4 * (elf_hash(name) as usize % word(hash)));
            let mut found = false;
            while i != 0 && i < nchain {
                let s = symtab + 24 * i;
                if cstr(word(s)) == *name {
                    assert_eq!(
                        u64::from_le_bytes(image[s + 8..s + 16].try_into().unwrap()),
                        *addr
                    );
                    assert_ne!(
                        u16::from_le_bytes(image[s + 6..s + 8].try_into().unwrap()),
                        0
                    );
                    assert_eq!(
                        u16::from_le_bytes(image[versym + 2 * i..][..2].try_into().unwrap()),
                        2
                    );
                    found = true;
                    break;
                }
                i = word(hash + 8 + 4 * word(hash) + 4 * i);
            }
            assert!(found, "{name} not reachable through DT_HASH");
        }
        // Version 2 is LINUX_2.6.39.
        let vd = get(elf::DT_VERDEF).unwrap() + 28;
        assert_eq!(
            u16::from_le_bytes(image[vd + 4..vd + 6].try_into().unwrap()),
            2
        );
        assert_eq!(cstr(word(vd + 20)), VERSION);
        assert_eq!(word(vd + 8) as u32, elf_hash(VERSION));
        // The code: mov x8, #113; svc #0x5856; ret.
        let gt = syms
            .iter()
            .find(|s| s.0 == "__kernel_clock_gettime")
            .unwrap()
            .1 as usize;
        assert_eq!(word(gt) as u32, 0xd2800e28);
        assert_eq!(word(gt + 4) as u32, 0xd40b0ac1);
        assert_eq!(word(gt + 8) as u32, 0xd65f03c0);
    }

    #[test]
    fn elf_hash_matches_known_values() {
        // Values from the System V ABI's algorithm as binutils computes them.
        assert_eq!(elf_hash(""), 0);
        assert_eq!(elf_hash("printf"), 0x077905a6);
        assert_eq!(elf_hash("LINUX_2.6.39"), 0x75fcb89);
    }
}
