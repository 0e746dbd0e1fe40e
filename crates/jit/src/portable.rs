//! Baseline blocks in a form that outlives the process, for the engine's
//! persistent code cache: the code bytes, with the offsets of everything
//! in them particular to one process (addresses of xarch's helpers, of
//! the block's execution counter, the displacements of the jumps through
//! link cells), so that another process can install the block again
//! without lifting or compiling it. Guest addresses in the code need no
//! relocation: a block is only reused at the guest address it was
//! compiled for, over the same guest bytes (the engine checks them).

use crate::baseline::{CompiledBlock, Exit, HotCounter};
use crate::cache::CodeCache;

/// What a process-specific 8-byte address in the code is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RelocKind {
    /// A function of xarch's own (kept relative to [`helper_base`]: a
    /// position-independent xarch loads at a different address each run).
    Helper = 0,
    /// The 4-byte RIP-relative displacement of the `sub` that counts the
    /// block's executions (see `CodeCache::alloc_counter`).
    Counter = 1,
    /// The 4-byte RIP-relative displacement of a jump or call through a
    /// link cell (stored with the exit's index as its addend).
    Cell = 2,
}

impl RelocKind {
    /// The kind with this number (as stored).
    pub fn from_u8(x: u8) -> Option<RelocKind> {
        match x {
            0 => Some(RelocKind::Helper),
            1 => Some(RelocKind::Counter),
            2 => Some(RelocKind::Cell),
            _ => None,
        }
    }
}

/// A process-specific address in a compiled block: the offset of its 8
/// bytes (a 4-byte displacement for [`RelocKind::Cell`] and
/// [`RelocKind::Counter`]) from the block's start.
#[derive(Clone, Copy, Debug)]
pub struct Reloc {
    /// Offset of the value.
    pub at: u32,
    /// What it is.
    pub kind: RelocKind,
}

/// A relocation as stored: helpers carry their offset from
/// [`helper_base`], cell displacements their exit's index, counters 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredReloc {
    /// Offset of the value in the code.
    pub at: u32,
    /// What it is.
    pub kind: RelocKind,
    /// For [`RelocKind::Helper`], the function's address minus
    /// [`helper_base`]; for [`RelocKind::Cell`], the exit's index.
    pub addend: i64,
}

/// A direct exit as stored: its target and the offset of its way back
/// to the dispatcher (its link cell is made at installation, and the
/// code reaches it through [`RelocKind::Cell`] displacements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredExit {
    /// The guest target.
    pub target: u64,
    /// Offset of the return path in the block (the cell's unlinked
    /// value), or [`COLD_BACK`]: one made at installation.
    pub back: u32,
}

/// [`StoredExit::back`] of an exit whose return path is not in its
/// block (see `baseline::exit_stub`).
pub const COLD_BACK: u32 = u32::MAX;

/// An inline guest access as stored (see [`CodeCache::add_fault_site`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredSite {
    /// Offset of the access instruction.
    pub at: u32,
    /// Its guest instruction's distance from the block's start.
    pub pc_offset: u32,
    /// Whether it writes.
    pub write: bool,
}

/// A compiled block detached from its process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Portable {
    /// The code, with zeros at every relocation.
    pub code: Vec<u8>,
    /// Offset of the body (where chained code enters).
    pub body: u32,
    /// The direct exits.
    pub exits: Vec<StoredExit>,
    /// The inline guest accesses, in increasing offset order.
    pub sites: Vec<StoredSite>,
    /// The process-specific addresses.
    pub relocs: Vec<StoredReloc>,
}

/// The address helper relocations are relative to: a function of this
/// crate, so that every helper linked into the same xarch binary is at a
/// fixed distance from it.
pub fn helper_base() -> u64 {
    crate::baseline::eval_shim as *const () as u64
}

/// The portable form of `block`, the guest code at `pc` compiled into
/// `cache`; `None` if its code refers to its IR block (which another
/// process would not have).
pub fn export(cache: &CodeCache, pc: u64, block: &CompiledBlock) -> Option<Portable> {
    if block.refs_ir {
        return None;
    }
    let start = block.body as usize;
    // SAFETY: the block's code is `len` bytes at `start` inside the cache,
    // which is alive (borrowed); nothing writes it while we read (the
    // engine owns both and is not running guest code).
    let mut code =
        unsafe { core::slice::from_raw_parts(start as *const u8, block.len as usize) }.to_vec();
    let exits = block
        .exits
        .iter()
        .map(|e| StoredExit {
            target: e.target,
            back: match (e.unlinked as usize).checked_sub(start) {
                Some(off) if off < block.len as usize => off as u32,
                _ => COLD_BACK,
            },
        })
        .collect();
    let mut relocs = Vec::with_capacity(block.relocs.len());
    for r in block.relocs.iter() {
        let at = r.at as usize;
        let width = match r.kind {
            RelocKind::Cell | RelocKind::Counter => 4,
            RelocKind::Helper => 8,
        };
        let addend = match r.kind {
            RelocKind::Helper => {
                let field = &code[at..at + width];
                let value = u64::from_le_bytes(field.try_into().expect("8 bytes"));
                value.wrapping_sub(helper_base()) as i64
            }
            RelocKind::Counter => 0,
            RelocKind::Cell => {
                // The exit whose cell the displacement reaches; or, where
                // linking made it a direct jump, whose jump it is (stored
                // through the cell again).
                let end = start + at + 4;
                let pair = [code[at.checked_sub(2)?], code[at - 1]];
                if let Some(canonical) = crate::baseline::indirect_opcode(pair) {
                    code[at - 2..at].copy_from_slice(&canonical);
                    block.exits.iter().position(|e| e.jump_end() == Some(end))? as i64
                } else {
                    let field = &code[at..at + 4];
                    let disp = i32::from_le_bytes(field.try_into().expect("4 bytes"));
                    let cell = end.wrapping_add_signed(disp as isize);
                    block.exits.iter().position(|e| e.cell as usize == cell)? as i64
                }
            }
        };
        code[at..at + width].fill(0);
        relocs.push(StoredReloc {
            at: r.at,
            kind: r.kind,
            addend,
        });
    }
    let sites = cache
        .fault_sites_in(start, block.len as usize)
        .map(|(at, site_pc, write)| {
            // A block never crosses a guest page.
            let pc_offset = u32::try_from(site_pc.wrapping_sub(pc))
                .ok()
                .filter(|&o| o < 1 << 31)?;
            Some(StoredSite {
                at: (at - start) as u32,
                pc_offset,
                write,
            })
        })
        .collect::<Option<_>>()?;
    Some(Portable {
        code,
        body: (block.body as usize - start) as u32,
        exits,
        sites,
        relocs,
    })
}

/// Why a stored block could not be installed.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportError {
    /// An offset lies outside the code, or a jump through a cell names
    /// no exit.
    Malformed,
    /// The block counts its executions and no counter was given, or the
    /// reverse.
    CounterMismatch,
    /// The code cache is full.
    CacheFull,
}

/// Installs a stored block of the guest code at `pc` into `cache`, with
/// `counter` when the block counts its executions (see
/// [`PortableRef::counts`]). The code must come from
/// [`export`] by the same xarch binary (helpers are found by their
/// distance from [`helper_base`]).
pub fn import(
    cache: &mut CodeCache,
    pc: u64,
    p: &PortableRef<'_>,
    counter: Option<HotCounter>,
) -> Result<CompiledBlock, ImportError> {
    let mut exits = Vec::new();
    let mut block = import_into(cache, pc, p, counter, &mut exits)?;
    block.exits = exits.into_boxed_slice();
    Ok(block)
}

/// [`import`], but the block's exits go to `exits` (cleared first), a
/// list the caller keeps from block to block, and the returned block has
/// none: a process starts with thousands of stored blocks, and two
/// allocations per block (the cells, the exits) were a tenth of
/// installing one.
pub fn import_into(
    cache: &mut CodeCache,
    pc: u64,
    p: &PortableRef<'_>,
    counter: Option<HotCounter>,
    exits: &mut Vec<Exit>,
) -> Result<CompiledBlock, ImportError> {
    let len = p.code.len();
    let fits = |at: u32, n: usize| (at as usize).checked_add(n).is_some_and(|e| e <= len);
    // Checked in place (no copies: this runs for every block a process
    // starts with).
    let mut prev_site = None;
    let sites_ok = p.sites().all(|s| {
        let ok = fits(s.at, 1) && prev_site.is_none_or(|q| q < s.at);
        prev_site = Some(s.at);
        ok
    });
    let n_exits = p.exits.len() / EXIT_BYTES;
    if !fits(p.body, 1)
        || !sites_ok
        || !p.exits().all(|e| e.back == COLD_BACK || fits(e.back, 1))
        || !p.relocs().all(|r| {
            r.is_some_and(|r| match r.kind {
                RelocKind::Cell => fits(r.at, 4) && (0..n_exits as i64).contains(&r.addend),
                // The displacement and the `sub`'s immediate.
                RelocKind::Counter => fits(r.at, 5),
                RelocKind::Helper => fits(r.at, 8),
            })
        })
    {
        return Err(ImportError::Malformed);
    }
    if p.counts() != counter.is_some() {
        return Err(ImportError::CounterMismatch);
    }
    // The cells first (relocations point the code at them), the return
    // paths once the code is in place.
    exits.clear();
    for e in p.exits() {
        let cell = cache.alloc_cell().ok_or(ImportError::CacheFull)?;
        exits.push(Exit::new(e.target, cell, 0));
    }
    let start = cache.install(p.code).ok_or(ImportError::CacheFull)?;
    let base = start as usize;
    for r in p.relocs().flatten() {
        let at = base + r.at as usize;
        let value = match r.kind {
            RelocKind::Helper => helper_base().wrapping_add(r.addend as u64),
            RelocKind::Counter => {
                if let Some(c) = counter {
                    // SAFETY: `at + 5` is inside the code just installed
                    // (checked above), which nothing runs yet; the
                    // caller's counter is of this cache.
                    unsafe { crate::cache::point_at_counter(at as *mut u8, c) };
                }
                continue;
            }
            RelocKind::Cell => {
                let exit = &mut exits[r.addend as usize];
                // SAFETY: `at + 4` is inside the code just installed
                // (checked above), which nothing runs yet.
                unsafe { crate::cache::point_at_cell((at + 4) as *const u8, exit.cell) };
                exit.add_jump(at + 4);
                continue;
            }
        };
        // SAFETY: `at + 8` is inside the code just installed (checked
        // above), which nothing runs yet.
        unsafe { (at as *mut u64).write_unaligned(value) };
    }
    for s in p.sites() {
        cache.add_fault_site(base + s.at as usize, pc + s.pc_offset as u64, s.write);
    }
    for (e, exit) in p.exits().zip(exits.iter_mut()) {
        let back = (e.back != COLD_BACK).then_some(e.back as usize);
        exit.unlinked = crate::baseline::return_path(cache, base, e.target, back)
            .ok_or(ImportError::CacheFull)?;
        // SAFETY: a fresh, aligned cell of the cache.
        unsafe { exit.cell.write(exit.unlinked) };
    }
    crate::perfmap::record(start, len, format_args!("baseline_{pc:x}"));
    // No relocations are kept: an imported block is already stored and
    // never exported again (an allocation per block a process starts with).
    Ok(CompiledBlock::from_parts(
        (base + p.body as usize) as u64,
        Box::default(),
        len as u32,
        Box::default(),
    ))
}

/// A stored block read in place (from a mapped file): fixed-size records
/// in little-endian byte slices.
#[derive(Clone, Copy, Debug)]
pub struct PortableRef<'a> {
    /// The code.
    pub code: &'a [u8],
    /// Offset of the body.
    pub body: u32,
    /// [`StoredExit`]s, 16 bytes each: target, back, 4 bytes of 0.
    pub exits: &'a [u8],
    /// [`StoredSite`]s, 8 bytes each: at, pc_offset | write << 31.
    pub sites: &'a [u8],
    /// [`StoredReloc`]s, 16 bytes each: at, kind (u32), addend.
    pub relocs: &'a [u8],
}

/// Bytes per stored exit, site and relocation.
pub const EXIT_BYTES: usize = 16;
/// See [`EXIT_BYTES`].
pub const SITE_BYTES: usize = 8;
/// See [`EXIT_BYTES`].
pub const RELOC_BYTES: usize = 16;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl<'a> PortableRef<'a> {
    /// Whether the block counts its executions (needs a [`HotCounter`]
    /// when imported).
    pub fn counts(&self) -> bool {
        self.relocs()
            .any(|r| r.is_some_and(|r| r.kind == RelocKind::Counter))
    }

    fn exits(&self) -> impl Iterator<Item = StoredExit> + 'a {
        self.exits.chunks_exact(EXIT_BYTES).map(|c| StoredExit {
            target: u64_at(c, 0),
            back: u32_at(c, 8),
        })
    }

    fn sites(&self) -> impl Iterator<Item = StoredSite> + 'a {
        self.sites.chunks_exact(SITE_BYTES).map(|c| {
            let pc = u32_at(c, 4);
            StoredSite {
                at: u32_at(c, 0),
                pc_offset: pc & !(1 << 31),
                write: pc >> 31 != 0,
            }
        })
    }

    fn relocs(&self) -> impl Iterator<Item = Option<StoredReloc>> + 'a {
        self.relocs.chunks_exact(RELOC_BYTES).map(|c| {
            Some(StoredReloc {
                at: u32_at(c, 0),
                kind: RelocKind::from_u8(u8::try_from(u32_at(c, 4)).ok()?)?,
                addend: u64_at(c, 8) as i64,
            })
        })
    }
}

impl Portable {
    /// Appends the exits, sites and relocations in [`PortableRef`]'s
    /// layout to `exits`, `sites` and `relocs`.
    pub fn encode_tables(&self, exits: &mut Vec<u8>, sites: &mut Vec<u8>, relocs: &mut Vec<u8>) {
        for e in &self.exits {
            exits.extend_from_slice(&e.target.to_le_bytes());
            exits.extend_from_slice(&e.back.to_le_bytes());
            exits.extend_from_slice(&[0; 4]);
        }
        for s in &self.sites {
            sites.extend_from_slice(&s.at.to_le_bytes());
            sites.extend_from_slice(&(s.pc_offset | (s.write as u32) << 31).to_le_bytes());
        }
        for r in &self.relocs {
            relocs.extend_from_slice(&r.at.to_le_bytes());
            relocs.extend_from_slice(&(r.kind as u32).to_le_bytes());
            relocs.extend_from_slice(&r.addend.to_le_bytes());
        }
    }
}
