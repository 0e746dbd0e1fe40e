//! A baseline block exported for the code store and installed in another
//! code cache: its jumps through link cells reach cells made at
//! installation, an exit that does not poll returns through a cold path
//! made there too, one that polls through the path in its block, and a
//! stored jump naming no exit is refused.

#[path = "common/branch.rs"]
mod branch;

use branch::{BACKWARD, FORWARD, START, branch_block};
use xarch_ir::{Block, Builder, Terminator, Type};
use xarch_jit::baseline::{ChainConfig, KIND_HOT, KIND_NEXT, MAX_SLOTS, compile, compile_counted};
use xarch_jit::portable::{
    COLD_BACK, ImportError, Portable, PortableRef, RelocKind, export, import,
};
use xarch_jit::{CodeCache, CompiledBlock, JitCtx};

const WORDS: usize = 16;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * (WORDS as i32 - 1),
    ibtc: false,
    flags: None,
    link: None,
    pinned: [None; xarch_jit::baseline::PINS],
};
/// Where the marked block continues.
const AFTER: u64 = 0x9000;

/// Sets state word 5 to 42.
fn marked_block() -> Block {
    let mut b = Builder::new();
    b.guest_insn(FORWARD);
    let x = b.iconst(Type::I64, 42);
    b.set_state(5 * 8, x);
    b.finish(FORWARD, FORWARD + 4, 1, Terminator::Jump(AFTER))
}

/// Runs `block` with state word 0 = `word0`: the next PC and word 5.
fn run(block: &CompiledBlock, word0: u64) -> (u64, u64) {
    let mut state = vec![0u64; WORDS];
    state[0] = word0;
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::default();
    // SAFETY: compiled for this state layout; its cache outlives the call.
    let next = unsafe { block.call(state.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    assert_eq!(ctx.kind, KIND_NEXT);
    (next, state[5])
}

/// The stored tables of `p`, as the code store keeps them.
fn tables(p: &Portable) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut exits, mut sites, mut relocs) = (Vec::new(), Vec::new(), Vec::new());
    p.encode_tables(&mut exits, &mut sites, &mut relocs);
    (exits, sites, relocs)
}

fn portable_ref<'a>(p: &'a Portable, t: &'a (Vec<u8>, Vec<u8>, Vec<u8>)) -> PortableRef<'a> {
    PortableRef {
        code: &p.code,
        body: p.body,
        exits: &t.0,
        sites: &t.1,
        relocs: &t.2,
    }
}

#[test]
fn stored_blocks_get_their_cells_and_cold_paths_at_installation() {
    let mut first = CodeCache::new(1 << 20).unwrap();
    let compiled = compile(&branch_block(|_| {}), &mut first, CHAIN).expect("compiles");
    let p = export(&first, START, &compiled).expect("exportable");
    drop(first);
    // The polling exit keeps its return path in the block; the other's
    // is made at installation.
    let backs: Vec<(u64, bool)> = p
        .exits
        .iter()
        .map(|e| (e.target, e.back == COLD_BACK))
        .collect();
    assert_eq!(backs, [(BACKWARD, false), (FORWARD, true)]);
    let cells = p
        .relocs
        .iter()
        .filter(|r| r.kind == RelocKind::Cell)
        .count();
    assert_eq!(cells, 2);
    let t = tables(&p);
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let block = import(&mut cache, START, &portable_ref(&p, &t), None).expect("imports");
    // Unlinked: each exit returns its own target.
    assert_eq!(run(&block, 0), (BACKWARD, 0));
    assert_eq!(run(&block, 1), (FORWARD, 0));
    // Linked, the forward exit's jump goes through its new cell.
    let marked = compile(&marked_block(), &mut cache, CHAIN).expect("compiles");
    let forward = block.exits.iter().find(|e| e.target == FORWARD).unwrap();
    // SAFETY: both blocks live in this cache; nothing runs them now.
    unsafe { forward.link(marked.body) };
    assert_eq!(run(&block, 1), (AFTER, 42));
    assert_eq!(run(&block, 0), (BACKWARD, 0));
    // Unlinked again, back through the cold path.
    // SAFETY: as above.
    unsafe { forward.unlink() };
    assert_eq!(run(&block, 1), (FORWARD, 0));
}

/// The 6 bytes of the jump or call through a cell ending at `end`.
fn jump_at(end: usize) -> [u8; 6] {
    // SAFETY: `end` is the end of a jump in a live cache's code.
    unsafe { *((end - 6) as *const [u8; 6]) }
}

/// A direct `nop; jmp rel32` ending at `end` to `target`.
fn direct_jump(end: usize, target: u64) -> [u8; 6] {
    let rel = (target as i64 - end as i64) as i32;
    let mut b = [0x90, 0xe9, 0, 0, 0, 0];
    b[2..].copy_from_slice(&rel.to_le_bytes());
    b
}

/// Linking rewrites an exit's jump through its cell into a direct jump
/// to the target (unlinking, to its return path), compiled or
/// installed from the store; the block's stored form is the same before
/// and after, jumps through cells.
#[test]
fn linking_makes_jumps_direct_and_stores_them_through_cells() {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let compiled = compile(&branch_block(|_| {}), &mut cache, CHAIN).expect("compiles");
    let marked = compile(&marked_block(), &mut cache, CHAIN).expect("compiles");
    let before = export(&cache, START, &compiled).expect("exportable");
    let forward = *compiled.exits.iter().find(|e| e.target == FORWARD).unwrap();
    let end = forward.jump_end().expect("a jump through the cell");
    let through_cell = jump_at(end);
    assert_eq!(through_cell[..2], [0xff, 0x25]);
    // SAFETY: both blocks live in this cache; nothing runs them now.
    unsafe { forward.link(marked.body) };
    assert_eq!(jump_at(end), direct_jump(end, marked.body));
    assert_eq!(run(&compiled, 1), (AFTER, 42));
    // Stored as compiled.
    let after = export(&cache, START, &compiled).expect("exportable");
    assert_eq!(after.code, before.code);
    assert_eq!(after.relocs, before.relocs);
    // SAFETY: as above.
    unsafe { forward.unlink() };
    assert_eq!(jump_at(end), direct_jump(end, forward.unlinked));
    assert_eq!(run(&compiled, 1), (FORWARD, 0));

    // Installed from the store: the same.
    let t = tables(&before);
    let block = import(&mut cache, START, &portable_ref(&before, &t), None).expect("imports");
    let forward = *block.exits.iter().find(|e| e.target == FORWARD).unwrap();
    let end = forward.jump_end().expect("a jump through the cell");
    assert_eq!(jump_at(end)[..2], [0xff, 0x25]);
    // SAFETY: as above.
    unsafe { forward.link(marked.body) };
    assert_eq!(jump_at(end), direct_jump(end, marked.body));
    assert_eq!(run(&block, 1), (AFTER, 42));
    assert_eq!(run(&block, 0), (BACKWARD, 0));
}

#[test]
fn a_stored_jump_through_a_cell_of_no_exit_is_refused() {
    let mut first = CodeCache::new(1 << 20).unwrap();
    let compiled = compile(&branch_block(|_| {}), &mut first, CHAIN).expect("compiles");
    let mut p = export(&first, START, &compiled).expect("exportable");
    let cell = p
        .relocs
        .iter_mut()
        .find(|r| r.kind == RelocKind::Cell)
        .unwrap();
    cell.addend = p.exits.len() as i64;
    let t = tables(&p);
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let refused = import(&mut cache, START, &portable_ref(&p, &t), None);
    assert_eq!(refused.err(), Some(ImportError::Malformed));
}

/// Runs `block` with state word 0 = 1: the next PC and `ctx.kind`.
fn run_kind(block: &CompiledBlock) -> (u64, u64) {
    let mut state = vec![0u64; WORDS];
    state[0] = 1;
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::default();
    // SAFETY: compiled for this state layout; its cache outlives the call.
    let next = unsafe { block.call(state.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    (next, ctx.kind)
}

/// A counted block counts down a counter of the cache it runs in, as
/// compiled and as installed in another cache with a counter of that one
/// (the `sub` reaches it RIP-relative), and reports itself hot when the
/// count runs out; a counted block needs a counter.
#[test]
fn counted_blocks_count_in_their_own_cache() {
    let mut first = CodeCache::new(1 << 20).unwrap();
    let c = first.alloc_counter(3).expect("room");
    let compiled =
        compile_counted(&branch_block(|_| {}), &mut first, CHAIN, Some(c)).expect("compiles");
    assert_eq!(run_kind(&compiled), (FORWARD, KIND_NEXT));
    assert_eq!(run_kind(&compiled), (FORWARD, KIND_NEXT));
    assert_eq!(run_kind(&compiled), (START, KIND_HOT));
    let p = export(&first, START, &compiled).expect("exportable");
    drop(first);
    let t = tables(&p);
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let refused = import(&mut cache, START, &portable_ref(&p, &t), None);
    assert_eq!(refused.err(), Some(ImportError::CounterMismatch));
    // Code between the block and its counter.
    compile(&marked_block(), &mut cache, CHAIN).expect("compiles");
    let c = cache.alloc_counter(2).expect("room");
    let block = import(&mut cache, START, &portable_ref(&p, &t), Some(c)).expect("imports");
    assert_eq!(run_kind(&block), (FORWARD, KIND_NEXT));
    assert_eq!(run_kind(&block), (START, KIND_HOT));
    // SAFETY: the counter is a word of `cache`, which is alive.
    assert_eq!(unsafe { *c.0.as_ptr() }, 0);
}
