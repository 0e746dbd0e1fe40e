//! The persistent code cache: baseline blocks kept on disk between runs
//! of the same program, so that a process starts with the code its
//! predecessors compiled instead of lifting, interpreting and compiling
//! it again (process-heavy work, a configure script or a build, is mostly
//! translation otherwise).
//!
//! One file per program (its path and identity, xarch's own binary and
//! the engine settings that change the code: [`CodeStore::open`]). A
//! stored block is used only at the guest address it was compiled for and
//! only over the same guest bytes, compared on every use: a program that
//! maps its libraries elsewhere, or a library that changed, just misses.
//! Files are replaced whole (written aside, then renamed), so readers
//! never see a partial file, and each record carries a checksum: a
//! damaged file is ignored, never run.
//!
//! Layout (little-endian): a header (magic, version, record count, slot
//! count), an index of (guest PC, record offset, record length) sorted by
//! PC, a table of slots that finds a PC's index entry in one or two
//! probes (see [`StoreFile::raw`]), then the records (see
//! [`encode_record`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use xarch_ir::{BranchHint, ExitReason, Terminator, Value};
use xarch_jit::portable::{EXIT_BYTES, Portable, PortableRef, RELOC_BYTES, SITE_BYTES};

const MAGIC: &[u8; 8] = b"XARCHCC\0";
/// Bumped whenever the record layout or the meaning of stored code
/// changes.
const VERSION: u32 = 8;
const HEADER: usize = 24;
const INDEX_ENTRY: usize = 16;
/// Bytes per slot of the lookup table: an index position plus one (0:
/// empty).
const SLOT: usize = 4;
/// A lookup probes at most this many slots: the writer sizes the table
/// so that no PC is further from its home slot, and a damaged table only
/// makes lookups miss, never run on.
const MAX_PROBES: usize = 32;
const RECORD_HEADER: usize = 56;
/// A file is not grown past this (a program that generates endless code
/// keeps what it has).
const MAX_FILE_BYTES: usize = 256 << 20;
/// The default bound on a cache directory: when a new file would take it
/// past this, the files used least recently are removed.
pub const DEFAULT_MAX_DIR_BYTES: u64 = 1 << 30;
/// A file used is marked used (its modification time set) at most this
/// often, so that most starts cost no write.
const TOUCH_EVERY_SECS: u64 = 3600;

/// A cache file's records, looked up by guest PC.
struct StoreFile {
    map: memmap2::Mmap,
    count: usize,
    /// Slots in the lookup table (a power of two).
    slots: usize,
}

impl StoreFile {
    /// The file at `path` if it is a cache file of this version with an
    /// index that fits.
    fn open(path: &Path) -> Option<StoreFile> {
        let file = std::fs::File::open(path).ok()?;
        // SAFETY: a private read-only mapping. Cache files are replaced
        // by rename, never written or truncated in place, so the mapped
        // bytes do not change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        let b = &map[..];
        if b.len() < HEADER || &b[..8] != MAGIC || u32_at(b, 8) != VERSION {
            return None;
        }
        let count = u32_at(b, 12) as usize;
        let slots = u32_at(b, 16) as usize;
        if !slots.is_power_of_two() || HEADER + count * INDEX_ENTRY + slots * SLOT > b.len() {
            return None;
        }
        Some(StoreFile { map, count, slots })
    }

    fn index(&self, i: usize) -> (u64, usize, usize) {
        let b = &self.map[..];
        let at = HEADER + i * INDEX_ENTRY;
        (
            u64_at(b, at),
            u32_at(b, at + 8) as usize,
            u32_at(b, at + 12) as usize,
        )
    }

    /// The raw record at `pc`: its home slot in the lookup table, then
    /// the next ones until an empty slot (linear probing, at most
    /// [`MAX_PROBES`]). A binary search of the 52k entries of a cc1
    /// store took 16 steps and 245 instructions per lookup, 3.4% of all
    /// the instructions of a small compile; a table built at every start
    /// would cost more than it saves, so the file carries it. A damaged
    /// table or index only finds the wrong record or none, and records
    /// are checked by their checksums and tied to their PC.
    fn raw(&self, pc: u64) -> Option<&[u8]> {
        let b = &self.map[..];
        let table = HEADER + self.count * INDEX_ENTRY;
        let mask = self.slots - 1;
        let mut slot = home_slot(pc, self.slots);
        for _ in 0..MAX_PROBES.min(self.slots) {
            let i = (u32_at(b, table + slot * SLOT) as usize).checked_sub(1)?;
            if i >= self.count {
                return None;
            }
            let (p, off, len) = self.index(i);
            if p == pc {
                return self.map.get(off..off.checked_add(len)?);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    fn records(&self) -> impl Iterator<Item = (u64, &[u8])> {
        (0..self.count).filter_map(|i| {
            let (pc, off, len) = self.index(i);
            Some((pc, self.map.get(off..off.checked_add(len)?)?))
        })
    }
}

/// A stored block, read in place.
pub(crate) struct Record<'a> {
    /// End of the guest code (exclusive).
    pub end: u64,
    /// Guest instructions in the block.
    pub guest_insns: u32,
    /// How the block ends (its values refer to no instructions: the
    /// engine keeps only a skeleton of compiled blocks).
    pub term: Terminator,
    /// The guest code the block was compiled from.
    pub guest: &'a [u8],
    /// The code.
    pub code: PortableRef<'a>,
}

/// What the store has for a guest PC.
pub(crate) enum Lookup<'a> {
    /// No record.
    Missing,
    /// A record that fails its checks (checksum, bounds, bound to
    /// another PC): ignored.
    Damaged,
    /// An intact record.
    Found(Record<'a>),
}

#[cfg(test)]
impl<'a> Lookup<'a> {
    fn found(self) -> Option<Record<'a>> {
        match self {
            Lookup::Found(r) => Some(r),
            _ => None,
        }
    }
}

/// Parses and checks a record of the block at `pc`.
fn parse(pc: u64, r: &[u8]) -> Option<Record<'_>> {
    if r.len() < RECORD_HEADER || checksum(r) != u64_at(r, 48) {
        return None;
    }
    let end = u64_at(r, 0);
    let guest_len = usize::try_from(end.checked_sub(pc)?).ok()?;
    // Whole instructions, at least one, as many as the record says: the
    // record stores its end, not its start, so this also ties it to `pc`
    // (a damaged index that sends `pc` to another block's record is
    // refused here; the checksum does not cover the index).
    if guest_len == 0 || guest_len % 4 != 0 || u32_at(r, 8) as usize != guest_len / 4 {
        return None;
    }
    let code_len = u32_at(r, 12) as usize;
    let (n_exits, n_sites, n_relocs) = (
        u16_at(r, 20) as usize,
        u16_at(r, 22) as usize,
        u16_at(r, 24) as usize,
    );
    let mut at = RECORD_HEADER;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = r.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let guest = take(guest_len)?;
    let code = take(code_len)?;
    let exits = take(n_exits * EXIT_BYTES)?;
    let sites = take(n_sites * SITE_BYTES)?;
    let relocs = take(n_relocs * RELOC_BYTES)?;
    Some(Record {
        end,
        guest_insns: u32_at(r, 8),
        term: decode_term(r[26], u32_at(r, 28), u64_at(r, 32), u64_at(r, 40))?,
        guest,
        code: PortableRef {
            code,
            body: u32_at(r, 16),
            exits,
            sites,
            relocs,
        },
    })
}

/// The record of a compiled block at `pc` whose guest code is `guest`.
pub(crate) fn encode_record(
    pc: u64,
    guest_insns: u32,
    term: &Terminator,
    guest: &[u8],
    code: &Portable,
) -> Option<Vec<u8>> {
    let (tag, c, a, b) = encode_term(term);
    let n = |x: usize| u16::try_from(x).ok();
    let (n_exits, n_sites, n_relocs) = (
        n(code.exits.len())?,
        n(code.sites.len())?,
        n(code.relocs.len())?,
    );
    let mut r = Vec::with_capacity(RECORD_HEADER + guest.len() + code.code.len() + 64);
    r.extend_from_slice(&(pc + guest.len() as u64).to_le_bytes());
    r.extend_from_slice(&guest_insns.to_le_bytes());
    r.extend_from_slice(&u32::try_from(code.code.len()).ok()?.to_le_bytes());
    r.extend_from_slice(&code.body.to_le_bytes());
    r.extend_from_slice(&n_exits.to_le_bytes());
    r.extend_from_slice(&n_sites.to_le_bytes());
    r.extend_from_slice(&n_relocs.to_le_bytes());
    r.extend_from_slice(&[tag, 0]);
    r.extend_from_slice(&c.to_le_bytes());
    r.extend_from_slice(&a.to_le_bytes());
    r.extend_from_slice(&b.to_le_bytes());
    r.extend_from_slice(&[0; 8]);
    r.extend_from_slice(guest);
    r.extend_from_slice(&code.code);
    let (mut exits, mut sites, mut relocs) = (Vec::new(), Vec::new(), Vec::new());
    code.encode_tables(&mut exits, &mut sites, &mut relocs);
    r.extend_from_slice(&exits);
    r.extend_from_slice(&sites);
    r.extend_from_slice(&relocs);
    let sum = checksum(&r);
    r[48..56].copy_from_slice(&sum.to_le_bytes());
    Some(r)
}

/// A terminator as (tag, value, a, b).
fn encode_term(t: &Terminator) -> (u8, u32, u64, u64) {
    let hint = |h: BranchHint| match h {
        BranchHint::Jump => 0,
        BranchHint::Call => 1,
        BranchHint::Return => 2,
    };
    match *t {
        Terminator::Jump(target) => (0, 0, target, 0),
        Terminator::JumpDyn(v, h) => (1, v.0, 0, hint(h)),
        Terminator::Branch {
            cond,
            taken,
            not_taken,
        } => (2, cond.0, taken, not_taken),
        Terminator::Exit { reason, pc } => {
            let why = match reason {
                ExitReason::Syscall => 0,
                ExitReason::Breakpoint(imm) => 1 | u64::from(imm) << 8,
                ExitReason::Undefined { insn, unallocated } => {
                    2 | u64::from(unallocated) << 8 | u64::from(insn) << 32
                }
            };
            (3, 0, pc, why)
        }
    }
}

fn decode_term(tag: u8, v: u32, a: u64, b: u64) -> Option<Terminator> {
    Some(match tag {
        0 => Terminator::Jump(a),
        1 => Terminator::JumpDyn(
            Value(v),
            match b {
                0 => BranchHint::Jump,
                1 => BranchHint::Call,
                2 => BranchHint::Return,
                _ => return None,
            },
        ),
        2 => Terminator::Branch {
            cond: Value(v),
            taken: a,
            not_taken: b,
        },
        3 => Terminator::Exit {
            pc: a,
            reason: match b & 0xff {
                0 => ExitReason::Syscall,
                1 => ExitReason::Breakpoint((b >> 8) as u16),
                2 => ExitReason::Undefined {
                    insn: (b >> 32) as u32,
                    unallocated: (b >> 8) & 1 != 0,
                },
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// The slot where the lookup of `pc` starts in a table of `slots` (a
/// power of two). PCs of one 4 MiB window go to consecutive slots from a
/// hashed start: a process installs blocks near the ones it installed
/// last, whose slots and index entries are then in cache (a hash of the
/// whole PC missed more often than the binary search it replaced).
fn home_slot(pc: u64, slots: usize) -> usize {
    let window = ((pc >> 22).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize;
    ((pc >> 2) as usize).wrapping_add(window) & (slots - 1)
}

/// What [`CodeStore::save`] wrote.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Written {
    /// Records in the file.
    pub records: usize,
    /// Records its lookup table leaves out (see [`lookup_table`]): their
    /// blocks are translated rather than installed.
    pub left_out: usize,
}

/// The lookup table of the index positions of `pcs` (sorted, distinct):
/// at most half full, larger if a PC would sit more than [`MAX_PROBES`]
/// slots from home, up to 16 times that; a PC that still does not fit
/// is left out (its block is translated again rather than installed).
fn lookup_table(pcs: impl Iterator<Item = u64> + Clone) -> Vec<u32> {
    let n = pcs.clone().count();
    let least = (2 * n).next_power_of_two().max(8);
    let mut slots = least;
    'size: loop {
        let mut table = vec![0u32; slots];
        'pcs: for (i, pc) in pcs.clone().enumerate() {
            let mut slot = home_slot(pc, slots);
            for _ in 0..MAX_PROBES {
                if table[slot] == 0 {
                    table[slot] = i as u32 + 1;
                    continue 'pcs;
                }
                slot = (slot + 1) & (slots - 1);
            }
            if slots < 16 * least {
                slots *= 2;
                continue 'size;
            }
        }
        return table;
    }
}

/// A record's checksum: over everything but its own 8 bytes (at 48).
fn checksum(r: &[u8]) -> u64 {
    hash_bytes(&r[..48]) ^ hash_bytes(&r[56..]).rotate_left(17)
}

/// A 64-bit hash of `b` (detects damage and changed guest code; not a
/// defence against someone who can write the cache, who can also
/// replace xarch itself). A folded multiply (the two halves of a 128-bit
/// product xored) per 16 bytes, in four independent lanes over each 64
/// bytes, the rest 16 bytes at a time and the tail read as an
/// overlapping last chunk: a record check is on the path of every block
/// a process starts with. (One chain of folds waited for each multiply:
/// 4.3% of a cc1 start. Four lanes of multiply-rotate with a byte loop
/// for the tail took 290 instructions per 340-byte record.)
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    const K0: u64 = 0x9e37_79b9_7f4a_7c15;
    const K1: u64 = 0xd6e8_feb8_6659_fd93;
    let fold = |x: u64, y: u64| {
        let p = u128::from(x) * u128::from(y);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let half = |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes")));
    let n = b.len();
    let mut h = n as u64 ^ K0;
    if n >= 16 {
        let le = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let blocks = b.chunks_exact(64);
        let rest = blocks.remainder();
        if n >= 64 {
            // Each lane starts from its own seed, so that the same 16
            // bytes in another lane hash differently.
            let mut lanes = [h, h ^ K1, h.rotate_left(23) ^ K0, h.rotate_left(41) ^ K1];
            for c in blocks {
                for (k, lane) in lanes.iter_mut().enumerate() {
                    let c = &c[16 * k..16 * k + 16];
                    *lane = fold(le(&c[..8]) ^ K1 ^ *lane, le(&c[8..]) ^ K0);
                }
            }
            h = fold(lanes[0] ^ K1, lanes[1] ^ K0) ^ fold(lanes[2] ^ K0, lanes[3] ^ K1);
        }
        let chunks = rest.chunks_exact(16);
        let tail = !chunks.remainder().is_empty();
        for c in chunks {
            h = fold(le(&c[..8]) ^ K1 ^ h, le(&c[8..]) ^ K0);
        }
        if tail {
            h = fold(word(n - 16) ^ K1 ^ h, word(n - 8) ^ K0 ^ 1);
        }
    } else {
        // Two reads that overlap cover every byte.
        let (x, y) = match n {
            8.. => (word(0), word(n - 8)),
            4.. => (half(0), half(n - 4)),
            1.. => (
                u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
                0,
            ),
            0 => (0, 0),
        };
        h = fold(x ^ K1 ^ h, y ^ K0);
    }
    fold(h ^ K1, h ^ K0 ^ n as u64)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// One program's persistent code cache: the file as it was when the
/// process started (or last saved), and where to save.
pub struct CodeStore {
    path: PathBuf,
    file: Option<StoreFile>,
    /// Bound on the directory's size (see [`DEFAULT_MAX_DIR_BYTES`]).
    max_dir_bytes: u64,
    /// Whether creating this program's file checks that bound (one
    /// program in [`EVICT_ONE_IN`], by its key: a scan of a directory of
    /// thousands of files costs milliseconds, and a test suite creates a
    /// file per test program).
    checks_bound: bool,
}

/// See [`CodeStore::checks_bound`].
const EVICT_ONE_IN: u64 = 8;

impl std::fmt::Debug for CodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeStore")
            .field("path", &self.path)
            .field("records", &self.file.as_ref().map_or(0, |f| f.count))
            .finish()
    }
}

/// What identifies xarch's own code: helpers are called at fixed
/// distances inside this binary, so another build must not reuse its
/// blocks. The linker's build id (a hash of the binary's contents; also
/// readable in a chroot without /proc), else the file identity of
/// /proc/self/exe; `None`: nothing can be shared safely.
fn own_build() -> Option<String> {
    if let Some(id) = build_id() {
        return Some(format!("build-id {id}"));
    }
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/exe").ok()?;
    Some(format!(
        "exe {} {} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime_nsec() + m.mtime() * 1_000_000_000
    ))
}

/// The GNU build id of the running executable, in hex.
fn build_id() -> Option<String> {
    unsafe extern "C" fn first_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        out: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info for each object, and
        // `out` is the `Option<String>` given to dl_iterate_phdr below.
        let (info, out) = unsafe { (&*info, &mut *(out as *mut Option<String>)) };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: `dlpi_phdr` has `dlpi_phnum` headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_NOTE {
                continue;
            }
            let start = (info.dlpi_addr + ph.p_vaddr) as *const u8;
            // SAFETY: a PT_NOTE segment of a loaded object is mapped
            // readable for its memory size.
            let notes = unsafe { core::slice::from_raw_parts(start, ph.p_memsz as usize) };
            if let Some(id) = gnu_build_id(notes) {
                *out = Some(id);
                break;
            }
        }
        1 // the executable is the first object: stop
    }
    let mut out: Option<String> = None;
    // SAFETY: the callback only reads the loader's structures and writes
    // `out`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(first_object), &mut out as *mut _ as *mut libc::c_void) };
    out
}

/// The NT_GNU_BUILD_ID note in a note segment, in hex.
fn gnu_build_id(mut notes: &[u8]) -> Option<String> {
    const NT_GNU_BUILD_ID: u32 = 3;
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (
            u32_at(notes, 0) as usize,
            u32_at(notes, 4) as usize,
            u32_at(notes, 8),
        );
        let name_end = 12 + namesz.next_multiple_of(4);
        let desc_end = name_end.checked_add(descsz.next_multiple_of(4))?;
        if desc_end > notes.len() {
            return None;
        }
        if kind == NT_GNU_BUILD_ID && notes[12..12 + namesz].starts_with(b"GNU") && descsz > 0 {
            let desc = &notes[name_end..name_end + descsz];
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        notes = &notes[desc_end..];
    }
    None
}

impl CodeStore {
    /// The cache of the program whose identity is `program` (its path and
    /// file identity, given by the Linux layer) for an engine with
    /// `settings` (what changes the code it compiles), in `dir` (created
    /// if missing). Fails if the directory cannot be made or xarch cannot
    /// identify its own build.
    pub fn open(dir: &Path, program: &str, settings: &str) -> std::io::Result<CodeStore> {
        std::fs::create_dir_all(dir)?;
        let build = own_build().ok_or_else(|| {
            std::io::Error::other(
                "xarch cannot identify its own build (no build id, no /proc/self/exe): \
                 no stored code could be trusted",
            )
        })?;
        let key = format!("{VERSION}\n{build}\n{program}\n{settings}");
        let key_hash = hash_bytes(key.as_bytes());
        let name = format!("{key_hash:016x}.xcc");
        let path = dir.join(name);
        let file = StoreFile::open(&path);
        if file.is_some() {
            touch_if_old(&path);
        }
        Ok(CodeStore {
            path,
            file,
            max_dir_bytes: DEFAULT_MAX_DIR_BYTES,
            checks_bound: key_hash.is_multiple_of(EVICT_ONE_IN),
        })
    }

    /// Bounds the directory's size to `bytes` (see
    /// [`DEFAULT_MAX_DIR_BYTES`]; overshot by a few files at most, see
    /// [`EVICT_ONE_IN`]).
    pub fn with_max_dir_bytes(mut self, bytes: u64) -> CodeStore {
        self.max_dir_bytes = bytes;
        self
    }

    /// Makes the creation of this program's file always check the bound.
    #[cfg(test)]
    fn checking_bound(mut self) -> CodeStore {
        self.checks_bound = true;
        self
    }

    /// Where the cache is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blocks in the file as loaded.
    pub fn records(&self) -> usize {
        self.file.as_ref().map_or(0, |f| f.count)
    }

    /// The stored block at `pc`.
    pub(crate) fn get(&self, pc: u64) -> Lookup<'_> {
        match self.file.as_ref().and_then(|f| f.raw(pc)) {
            None => Lookup::Missing,
            Some(raw) => parse(pc, raw).map_or(Lookup::Damaged, Lookup::Found),
        }
    }

    /// Adds `new` records (guest PC, [`encode_record`]) to the file on
    /// disk (which another process may have replaced since this one
    /// loaded it) and replaces it. Records of the file at the same PCs
    /// are replaced. Returns how many records the file now has, and how
    /// many of them its lookup table leaves out.
    pub(crate) fn save(&self, new: Vec<(u64, Vec<u8>)>) -> std::io::Result<Written> {
        let current = StoreFile::open(&self.path);
        let mut all: Vec<(u64, &[u8])> = new.iter().map(|(pc, r)| (*pc, r.as_slice())).collect();
        all.sort_by_key(|&(pc, _)| pc);
        all.dedup_by_key(|&mut (pc, _)| pc);
        if let Some(f) = &current {
            let fresh: std::collections::HashSet<u64> = all.iter().map(|&(pc, _)| pc).collect();
            all.extend(f.records().filter(|(pc, _)| !fresh.contains(pc)));
            all.sort_by_key(|&(pc, _)| pc);
        }
        let table = lookup_table(all.iter().map(|&(pc, _)| pc));
        let size = HEADER
            + all.len() * INDEX_ENTRY
            + table.len() * SLOT
            + all.iter().map(|(_, r)| r.len()).sum::<usize>();
        if size > MAX_FILE_BYTES || all.len() >= u32::MAX as usize {
            return Err(std::io::Error::other("code cache file would be too large"));
        }
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(all.len() as u32).to_le_bytes());
        out.extend_from_slice(&(table.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let mut off = HEADER + all.len() * INDEX_ENTRY + table.len() * SLOT;
        for (pc, r) in &all {
            out.extend_from_slice(&pc.to_le_bytes());
            out.extend_from_slice(&(off as u32).to_le_bytes());
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            off += r.len();
        }
        for v in &table {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (_, r) in &all {
            out.extend_from_slice(r);
        }
        if current.is_none() && self.checks_bound {
            // A new file: make room for it first.
            if let Some(dir) = self.path.parent() {
                evict(dir, self.max_dir_bytes.saturating_sub(out.len() as u64));
            }
        }
        // (Threads of one process may save at the same time.)
        // SAFETY: gettid cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        let tmp = self
            .path
            .with_extension(format!("tmp{}-{tid}", std::process::id()));
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&out))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| Written {
            records: all.len(),
            left_out: all.len() - table.iter().filter(|&&v| v != 0).count(),
        })
    }

    /// The file as it is on disk now (not the one loaded): a fresh view,
    /// so that the processes forked from one parent do not each save the
    /// blocks they inherited.
    pub(crate) fn on_disk(&self) -> OnDisk {
        OnDisk(StoreFile::open(&self.path))
    }
}

/// Marks a cache file used (for [`evict`]) unless it was within the last
/// [`TOUCH_EVERY_SECS`].
fn touch_if_old(path: &Path) {
    let old = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() >= TOUCH_EVERY_SECS);
    if old && let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Removes the cache files of `dir` used least recently (oldest
/// modification time) until the rest take at most `max` bytes; also
/// removes temporary files a crashed writer left behind an hour ago.
fn evict(dir: &Path, max: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Ok(m) = e.metadata() else { continue };
        let Ok(when) = m.modified() else { continue };
        match path.extension().and_then(|x| x.to_str()) {
            Some("xcc") => files.push((when, m.len(), path)),
            Some(x) if x.starts_with("tmp") && when.elapsed().is_ok_and(|a| a.as_secs() > 3600) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= max {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

/// The cache file as it is on disk now (see [`CodeStore::on_disk`]).
pub(crate) struct OnDisk(Option<StoreFile>);

impl OnDisk {
    /// Records in the file.
    pub fn records(&self) -> usize {
        self.0.as_ref().map_or(0, |f| f.count)
    }

    /// Whether the file has an intact record of the block `[pc, end)`
    /// (a damaged one is replaced by the next save).
    pub fn has(&self, pc: u64, end: u64) -> bool {
        self.0
            .as_ref()
            .and_then(|f| parse(pc, f.raw(pc)?))
            .is_some_and(|r| r.end == end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xarch_knows_its_own_build() {
        let id = build_id().expect("test binaries are linked with a build id");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(build_id(), Some(id));
    }

    #[test]
    fn the_hash_sees_every_byte_and_the_length() {
        let base: Vec<u8> = (0..100u8).collect();
        let h = hash_bytes(&base);
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert_ne!(hash_bytes(&b), h, "byte {i}");
        }
        assert_ne!(hash_bytes(&base[..99]), h);
        assert_ne!(hash_bytes(&[0; 32]), hash_bytes(&[0; 33]));
        // The same 16 bytes in two lanes, swapped, or two 64-byte blocks
        // swapped, hash differently.
        let mut lanes: Vec<u8> = (0..128u8).collect();
        let h = hash_bytes(&lanes);
        lanes.copy_within(0..16, 16);
        let dup = hash_bytes(&lanes);
        assert_ne!(dup, h);
        let mut swapped: Vec<u8> = (0..128u8).collect();
        swapped[..32].rotate_left(16);
        assert_ne!(hash_bytes(&swapped), h);
        let mut blocks: Vec<u8> = (0..128u8).collect();
        blocks.rotate_left(64);
        assert_ne!(hash_bytes(&blocks), h);
        // Every length, every byte of short and odd-sized inputs (the
        // overlapping reads of tails) and of inputs of one or two lane
        // blocks and a rest.
        let mut seen = std::collections::HashSet::new();
        for n in (0..=40).chain(60..=140) {
            let base: Vec<u8> = (0..n as u8).map(|k| k.wrapping_mul(37)).collect();
            let h = hash_bytes(&base);
            assert!(seen.insert(h), "length {n}");
            for i in 0..n {
                for bit in [1, 0x80] {
                    let mut b = base.clone();
                    b[i] ^= bit;
                    assert_ne!(hash_bytes(&b), h, "length {n} byte {i}");
                }
            }
        }
    }

    #[test]
    fn terminators_round_trip() {
        let terms = [
            Terminator::Jump(0x4000_1234),
            Terminator::JumpDyn(Value(7), BranchHint::Return),
            Terminator::JumpDyn(Value(3), BranchHint::Call),
            Terminator::Branch {
                cond: Value(9),
                taken: 0x10,
                not_taken: 0x20,
            },
            Terminator::Exit {
                reason: ExitReason::Syscall,
                pc: 0x44,
            },
            Terminator::Exit {
                reason: ExitReason::Breakpoint(0xf000),
                pc: 0x48,
            },
            Terminator::Exit {
                reason: ExitReason::Undefined {
                    insn: 0xdead_beef,
                    unallocated: true,
                },
                pc: 0x4c,
            },
        ];
        for t in terms {
            let (tag, v, a, b) = encode_term(&t);
            let back = decode_term(tag, v, a, b).expect("decodes");
            assert_eq!(format!("{t:?}"), format!("{back:?}"));
        }
        assert!(decode_term(9, 0, 0, 0).is_none());
        assert!(decode_term(3, 0, 0, 7).is_none());
    }

    fn sample() -> Portable {
        Portable {
            code: (0..64u8).collect(),
            body: 5,
            exits: vec![xarch_jit::portable::StoredExit {
                target: 0x1000,
                back: 50,
            }],
            sites: vec![xarch_jit::portable::StoredSite {
                at: 12,
                pc_offset: 8,
                write: true,
            }],
            relocs: vec![
                xarch_jit::portable::StoredReloc {
                    at: 20,
                    kind: xarch_jit::portable::RelocKind::Helper,
                    addend: -4096,
                },
                xarch_jit::portable::StoredReloc {
                    at: 40,
                    kind: xarch_jit::portable::RelocKind::Cell,
                    addend: 0,
                },
            ],
        }
    }

    /// A fresh scratch directory for a test's cache files.
    fn scratch_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xarch-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A one-instruction block at `pc` whose guest code is four `g` bytes.
    fn jump_record(pc: u64, g: u8) -> Vec<u8> {
        encode_record(pc, 1, &Terminator::Jump(pc + 4), &[g; 4], &sample()).expect("encodes")
    }

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let guest = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let term = Terminator::Jump(0x2008);
        let r = encode_record(0x2000, 2, &term, &guest, &sample()).expect("encodes");
        let rec = parse(0x2000, &r).expect("parses");
        assert_eq!(
            (rec.end, rec.guest_insns, rec.guest),
            (0x2008, 2, &guest[..])
        );
        assert_eq!(rec.code.code, &sample().code[..]);
        assert_eq!(rec.code.body, 5);
        // Any flipped bit anywhere is caught by the checksum.
        for i in 0..r.len() {
            let mut bad = r.clone();
            bad[i] ^= 0x10;
            assert!(parse(0x2000, &bad).is_none(), "byte {i} flipped");
        }
        // Truncated records are refused, not read past.
        for n in 0..r.len() {
            assert!(parse(0x2000, &r[..n]).is_none());
        }
    }

    #[test]
    fn files_merge_replace_and_survive_garbage() {
        let dir = scratch_dir("persist");
        let store = CodeStore::open(&dir, "prog", "s").expect("opens");
        assert_eq!(store.records(), 0);
        let rec = jump_record;
        assert_eq!(
            store
                .save(vec![(0x3000, rec(0x3000, 1)), (0x1000, rec(0x1000, 1))])
                .unwrap(),
            Written {
                records: 2,
                left_out: 0
            }
        );
        // A second writer adds one and replaces one.
        assert_eq!(
            store
                .save(vec![(0x2000, rec(0x2000, 2)), (0x1000, rec(0x1000, 3))])
                .unwrap()
                .records,
            3
        );
        let again = CodeStore::open(&dir, "prog", "s").expect("opens");
        assert_eq!(again.records(), 3);
        assert_eq!(again.get(0x1000).found().expect("stored").guest, &[3; 4]);
        assert_eq!(again.get(0x3000).found().expect("stored").guest, &[1; 4]);
        assert!(again.get(0x1004).found().is_none());
        assert!(again.on_disk().has(0x2000, 0x2004));
        assert!(!again.on_disk().has(0x2000, 0x2008));
        // Other programs and settings have other files.
        assert_eq!(CodeStore::open(&dir, "prog", "t").unwrap().records(), 0);
        assert_eq!(CodeStore::open(&dir, "other", "s").unwrap().records(), 0);
        // A damaged file is no cache at all, and is replaced by the next
        // save.
        let bytes = std::fs::read(again.path()).unwrap();
        for cut in [3, HEADER + 5] {
            std::fs::write(again.path(), &bytes[..cut]).unwrap();
            let s = CodeStore::open(&dir, "prog", "s").expect("opens");
            assert!(
                s.get(0x1000).found().is_none() && s.get(0x3000).found().is_none(),
                "cut at {cut}"
            );
        }
        // Cut inside the last record: that record is gone, the others
        // stay usable.
        std::fs::write(again.path(), &bytes[..bytes.len() - 1]).unwrap();
        let s = CodeStore::open(&dir, "prog", "s").expect("opens");
        assert!(s.get(0x3000).found().is_none() && s.get(0x1000).found().is_some());
        std::fs::write(again.path(), b"garbage that is not a cache file").unwrap();
        let s = CodeStore::open(&dir, "prog", "s").expect("opens");
        assert_eq!(s.records(), 0);
        assert_eq!(s.save(vec![(0x1000, rec(0x1000, 4))]).unwrap().records, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Index lookups find every record and nothing else, however the
    /// PCs spread (even, clustered, far apart), and end on an unsorted
    /// (damaged) index.
    #[test]
    fn lookups_find_every_record_however_pcs_spread() {
        let dir = scratch_dir("lookup");
        let rec = |pc: u64| jump_record(pc, 7);
        // PCs that collide in every table size (see the next test): the
        // writer says how many its table leaves out, and those miss.
        let crowd: Vec<u64> = (0..128u64).map(|i| 0x4000_0000 + (i << 15)).collect();
        let store = CodeStore::open(&dir, "crowd", "s").expect("opens");
        let written = store
            .save(crowd.iter().map(|&pc| (pc, rec(pc))).collect())
            .unwrap();
        assert_eq!(
            written,
            Written {
                records: 128,
                left_out: 128 - MAX_PROBES
            }
        );
        let s = CodeStore::open(&dir, "crowd", "s").expect("opens");
        let found = crowd
            .iter()
            .filter(|&&pc| s.get(pc).found().is_some())
            .count();
        assert_eq!(found, MAX_PROBES);
        let spreads: [Vec<u64>; 4] = [
            (0..500).map(|i| 0x40_0000 + 4 * i).collect(),
            (0..300)
                .map(|i| 0x1000 + 8 * i)
                .chain((0..300).map(|i| 0x7fff_0000_0000 + 12 * i))
                .collect(),
            (0..200).map(|i| 0x1000 + i * i * i * 4).collect(),
            vec![0x1000, 0xffff_ffff_ffff_0000],
        ];
        for (k, pcs) in spreads.iter().enumerate() {
            let store = CodeStore::open(&dir, &format!("spread{k}"), "s").expect("opens");
            store
                .save(pcs.iter().map(|&pc| (pc, rec(pc))).collect())
                .unwrap();
            let s = CodeStore::open(&dir, &format!("spread{k}"), "s").expect("opens");
            let file = s.file.as_ref().expect("saved");
            for &pc in pcs {
                let r = file.raw(pc).expect("found");
                assert_eq!(parse(pc, r).expect("its own record").end, pc + 4);
                for miss in [pc + 4, pc.wrapping_sub(4), pc + 1] {
                    if !pcs.contains(&miss) {
                        assert!(file.raw(miss).is_none(), "{miss:#x} in spread {k}");
                    }
                }
            }
            assert!(file.raw(0).is_none() && file.raw(u64::MAX).is_none());
        }
        // An index shuffled on disk: lookups end (and find what they find).
        let s = CodeStore::open(&dir, "spread0", "s").expect("opens");
        let mut bytes = std::fs::read(s.path()).unwrap();
        for i in 0..250 {
            let (a, b) = (HEADER + i * INDEX_ENTRY, HEADER + (499 - i) * INDEX_ENTRY);
            for j in 0..8 {
                bytes.swap(a + j, b + j);
            }
        }
        std::fs::write(s.path(), &bytes).unwrap();
        let s = CodeStore::open(&dir, "spread0", "s").expect("opens");
        let file = s.file.as_ref().expect("a file");
        for pc in (0x3f_f000..0x40_1000).step_by(4) {
            if let Some(r) = file.raw(pc) {
                assert!(parse(pc, r).is_none_or(|r| r.end == pc + 4));
            }
        }
        // A lookup table damaged on disk: every slot full (of the first
        // entry, or of positions past the index). Lookups end after a
        // bounded number of probes and find nothing they should not.
        let table = HEADER + 500 * INDEX_ENTRY;
        let slots = u32_at(&bytes, 16) as usize;
        for fill in [1u32, 0x0101_0101] {
            for k in 0..slots {
                bytes[table + k * SLOT..table + (k + 1) * SLOT]
                    .copy_from_slice(&fill.to_le_bytes());
            }
            std::fs::write(s.path(), &bytes).unwrap();
            let s = CodeStore::open(&dir, "spread0", "s").expect("opens");
            let file = s.file.as_ref().expect("a file");
            for pc in (0x3f_f000..0x40_1000).step_by(4) {
                if let Some(r) = file.raw(pc) {
                    assert_eq!(fill, 1);
                    assert!(parse(pc, r).is_none_or(|r| r.end == pc + 4));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The writer's table keeps every PC within [`MAX_PROBES`] of its
    /// home slot however PCs spread (dense code, far apart, one window
    /// apart, strided to collide), and stays bounded when they cannot
    /// all fit (then only some are left out).
    #[test]
    fn lookup_tables_bound_their_probes() {
        let reach = |table: &[u32], pcs: &[u64]| {
            let mask = table.len() - 1;
            pcs.iter()
                .enumerate()
                .filter(|&(i, &pc)| {
                    let home = home_slot(pc, table.len());
                    (0..MAX_PROBES).any(|k| table[(home + k) & mask] == i as u32 + 1)
                })
                .count()
        };
        for pcs in [
            (0..5000u64).map(|i| 0x40_0000 + 4 * i).collect::<Vec<_>>(),
            (0..3000u64).map(|i| i << 40).collect(),
            (0..3000u64).map(|i| i << 22).collect(),
            (0..2000u64).map(|i| 0x40_0000 + (i << 14)).collect(),
            vec![],
        ] {
            let table = lookup_table(pcs.iter().copied());
            assert!(table.len().is_power_of_two() && table.len() >= 2 * pcs.len());
            assert_eq!(reach(&table, &pcs), pcs.len());
        }
        // 128 PCs of one window 32 KiB apart share their home slot in
        // every table up to 8192 slots: the table stops growing at 16
        // times its least size, and keeps the ones that fit.
        let pcs: Vec<u64> = (0..128u64).map(|i| 0x4000_0000 + (i << 15)).collect();
        let table = lookup_table(pcs.iter().copied());
        assert_eq!(table.len(), 16 * 256);
        assert_eq!(reach(&table, &pcs), MAX_PROBES);
    }

    #[test]
    fn new_files_evict_the_least_recently_used() {
        let dir = scratch_dir("evict");
        let rec = |pc: u64| jump_record(pc, 1);
        let mut paths = Vec::new();
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            let s = CodeStore::open(&dir, name, "s")
                .unwrap()
                .with_max_dir_bytes(1 << 20)
                .checking_bound();
            s.save(vec![(0x1000, rec(0x1000))]).unwrap();
            // Oldest first: a, then b, then c.
            let f = std::fs::File::options()
                .append(true)
                .open(s.path())
                .unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(100 - i as u64);
            f.set_modified(t).unwrap();
            paths.push(s.path().to_path_buf());
        }
        let one = std::fs::metadata(&paths[0]).unwrap().len();
        // Room for two files: a new one evicts the oldest (a) only.
        let d = CodeStore::open(&dir, "d", "s")
            .unwrap()
            .with_max_dir_bytes(3 * one)
            .checking_bound();
        d.save(vec![(0x1000, rec(0x1000))]).unwrap();
        let alive: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(alive, [false, true, true]);
        assert!(d.path().exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
