//! Differential testing of the A64 frontend against qemu-aarch64.
//!
//! A *case* is an initial state (X0-X30, SP, NZCV, FPCR, FPSR, V0-V31 and a
//! `WSIZE`-byte memory window) and a short instruction sequence. Each case
//! runs twice:
//!
//! - in xarch: lifted by `lift_block` and executed by the IR interpreter,
//!   with the window mapped at the same fixed address as in QEMU;
//! - under `qemu-aarch64 -cpu cortex-a72` (the CPU xarch presents: Armv8.0-A
//!   with FP and AdvSIMD), by the static harness tests/qdiff/harness.s, which
//!   reads case records from stdin, runs each from a fixed code address and
//!   writes the final state (or the signal that ended the case) to stdout.
//!   One QEMU process runs a whole batch of thousands of cases.
//!
//! The final X, SP, NZCV, FPCR, FPSR, V and window must be equal, and a case
//! that faults or hits an undefined instruction must do so under both.
//!
//! Sequences are built from random words of the instruction groups xarch
//! lifts (`translate_insn` returns Ok), made safe to run:
//! - loads and stores (and DC ZVA) are preceded by MOVZ/MOVK "fixups" that
//!   point their base (and index) register into the window, so every access
//!   lands in it; literal loads get their offset rewritten to the window;
//! - branches get forward offsets to the start of a later instruction of the
//!   same sequence (or its end), so control flow stays inside the sequence;
//! - indirect branches, exception generation and system registers other
//!   than NZCV, FPCR, FPSR (and the constant CTR/DCZID/TPIDRRO) are skipped;
//!   TPIDR_EL0 is the harness's scratch register.
//!
//! Differences that are not xarch bugs, kept out of the comparison:
//! - LDAR/STLR with should-be-one fields (Rs, Rt2) not all ones, and a
//!   store-exclusive of another size than its load-exclusive, are CONSTRAINED
//!   UNPREDICTABLE (QEMU: SIGILL, resp. compares the low bytes; xarch:
//!   executes, resp. fails): not generated;
//! - QEMU's Cortex-A72 implements AArch32, so FPCR.Stride/Len and FPSR.NZCV
//!   are writable there; on the CPU xarch presents (AArch64 only) they are
//!   RES0: MSR sources are masked.
//!
//! Known xarch bugs have `#[ignore]`d regression tests in qemu_diff.rs; the
//! generator avoids them ([`KNOWN_BUGS`], [`AVOID_DIRECTED_ROUNDING`],
//! [`AVOID_FLUSH_TO_ZERO`], [`AVOID_AHP`], [`IGNORE_UFC`]) until they are
//! fixed.
//!
//! A mismatch is reduced automatically: prefixes of the sequence (later
//! instructions replaced by NOPs) are rerun to find the first instruction
//! whose result differs, and the report shows that instruction, its
//! disassembly and the state before it.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use xarch_a64::lift::{Ctx, lift_block, translate_insn};
use xarch_a64::state::A64State;
use xarch_ir::{BlockResult, Builder, ExitReason, Interpreter};

/// Bytes in the compared memory window.
pub const WSIZE: usize = 512;
/// Code words per case (the harness appends a branch back to itself).
pub const NWORDS: usize = 96;
/// Bytes of an input record: 36 regs, 32 V, window, count, code.
const IN_SIZE: usize = 288 + 512 + WSIZE + 8 + 4 * NWORDS;
/// Bytes of an output record: status, address, 36 regs, 32 V, window.
const OUT_SIZE: usize = 16 + 288 + 512 + WSIZE;
/// Cases per QEMU process.
const BATCH: usize = 4096;
/// The NOP instruction.
pub const NOP: u32 = 0xd503_201f;

/// Fixed addresses of one tester: its code page and the window after it.
/// Each test of a binary uses its own `slot`, so that tests can run in
/// parallel threads. The code page must be within 128 MB of the harness's
/// text (0x400000) because the harness branches to it directly.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub code: u64,
    pub win: u64,
}

impl Layout {
    pub fn slot(k: u64) -> Layout {
        let code = 0x0100_0000 + k * 0x10_0000;
        Layout {
            code,
            win: code + 0x1000,
        }
    }
}

/// SplitMix64: deterministic, so a failure reproduces from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A register value biased towards the edges where bugs live.
    pub fn value(&mut self) -> u64 {
        const EDGES: [u64; 10] = [
            0,
            1,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            1 << 32,
            1 << 63,
            u64::MAX >> 1,
            u64::MAX,
            0x8000_0000_0000_0001,
        ];
        let r = self.next();
        match r % 7 {
            0 => r >> 58,                        // small
            1 => (r >> 58).wrapping_neg(),       // small negative
            2 => EDGES[(r >> 40) as usize % 10], // edge
            3 => r >> 32,                        // 32-bit
            4 => (r >> 33) | 0xffff_ffff_8000_0000,
            5 => self.fp64(),
            _ => self.next(),
        }
    }

    /// A double, biased towards special values.
    pub fn fp64(&mut self) -> u64 {
        const SPECIAL: [u64; 16] = [
            0,
            1 << 63,
            0x3ff0_0000_0000_0000, // 1.0
            0xbff8_0000_0000_0000, // -1.5
            0x7ff0_0000_0000_0000, // inf
            0xfff0_0000_0000_0000, // -inf
            0x7ff8_0000_0000_0000, // qNaN
            0x7ff4_0000_0000_0001, // sNaN
            0xfff8_0000_0000_1234, // -qNaN with payload
            1,                     // min subnormal
            0x000f_ffff_ffff_ffff, // max subnormal
            0x0010_0000_0000_0000, // min normal
            0x7fef_ffff_ffff_ffff, // max
            0x43e0_0000_0000_0000, // 2^63
            0x41df_ffff_ffc0_0000, // 2^31 - 1
            0x3fe0_0000_0000_0000, // 0.5
        ];
        let r = self.next();
        match r % 4 {
            0 | 1 => SPECIAL[(r >> 8) as usize % 16],
            // A "normal" number of moderate magnitude.
            2 => {
                (0x3c0 + (r >> 20) % 0x80) << 52 | (r >> 12) & 0x000f_ffff_ffff_ffff | (r & 1) << 63
            }
            _ => self.next(),
        }
    }

    /// A single, biased towards special values.
    pub fn fp32(&mut self) -> u32 {
        const SPECIAL: [u32; 16] = [
            0,
            0x8000_0000,
            0x3f80_0000, // 1.0
            0xbfc0_0000, // -1.5
            0x7f80_0000, // inf
            0xff80_0000, // -inf
            0x7fc0_0000, // qNaN
            0x7fa0_0001, // sNaN
            0xffc0_1234, // -qNaN with payload
            1,           // min subnormal
            0x007f_ffff, // max subnormal
            0x0080_0000, // min normal
            0x7f7f_ffff, // max
            0x5f00_0000, // 2^63
            0x4f00_0000, // 2^31
            0x3f00_0000, // 0.5
        ];
        let r = self.next();
        match r % 4 {
            0 | 1 => SPECIAL[(r >> 8) as usize % 16],
            2 => ((0x70 + (r >> 20) % 0x20) << 23 | (r >> 12) & 0x7f_ffff | (r & 1) << 31) as u32,
            _ => self.next() as u32,
        }
    }

    /// A 128-bit SIMD&FP register value.
    pub fn vreg(&mut self) -> u128 {
        match self.below(5) {
            0 => (self.fp64() as u128) | (self.fp64() as u128) << 64,
            1 => (0..4).fold(0, |a, k| a | (self.fp32() as u128) << (32 * k)),
            2 => (self.value() as u128) | (self.value() as u128) << 64,
            3 => self.fp64() as u128 | (self.fp32() as u128),
            _ => (self.next() as u128) | (self.next() as u128) << 64,
        }
    }
}

/// An initial state and a code sequence.
#[derive(Clone, Debug)]
pub struct Case {
    pub x: [u64; 31],
    pub sp: u64,
    pub nzcv: u64,
    pub fpcr: u64,
    pub fpsr: u64,
    pub v: [u128; 32],
    pub win: Vec<u8>,
    pub code: Vec<u32>,
}

impl Case {
    /// All-zero state with this code.
    pub fn zero(code: &[u32]) -> Case {
        Case {
            x: [0; 31],
            sp: 0,
            nzcv: 0,
            fpcr: 0,
            fpsr: 0,
            v: [0; 32],
            win: vec![0; WSIZE],
            code: code.to_vec(),
        }
    }

    /// A random initial state with this code.
    pub fn random(rng: &mut Rng, code: Vec<u32>) -> Case {
        let mut c = Case::zero(&[]);
        c.code = code;
        for r in &mut c.x {
            *r = rng.value();
        }
        c.sp = rng.value();
        c.nzcv = (rng.next() >> 60) << 28;
        if rng.one_in(3) {
            // Rounding mode, FZ, DN, AHP.
            c.fpcr = (rng.next() & 0x1f) << 22;
            if AVOID_DIRECTED_ROUNDING {
                c.fpcr &= !(3 << 22);
            }
            if AVOID_FLUSH_TO_ZERO {
                c.fpcr &= !(1 << 24);
            }
            if AVOID_AHP {
                c.fpcr &= !(1 << 26);
            }
        }
        if rng.one_in(4) {
            c.fpsr = rng.next() & 0x0800_009f;
        }
        for r in &mut c.v {
            *r = rng.vreg();
        }
        for chunk in c.win.chunks_mut(8) {
            let v = if rng.one_in(2) {
                rng.value()
            } else {
                rng.fp32() as u64 | (rng.fp32() as u64) << 32
            };
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        c
    }

    fn encode(&self, out: &mut Vec<u8>) {
        assert!(self.code.len() < NWORDS, "sequence too long");
        for r in self
            .x
            .iter()
            .chain(&[self.sp, self.nzcv, self.fpcr, self.fpsr, 0])
        {
            out.extend(r.to_le_bytes());
        }
        for v in &self.v {
            out.extend(v.to_le_bytes());
        }
        out.extend(&self.win);
        out.extend((self.code.len() as u64).to_le_bytes());
        for k in 0..NWORDS {
            out.extend(self.code.get(k).copied().unwrap_or(0).to_le_bytes());
        }
    }
}

/// The state after a case, or how it ended abnormally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// 0, or the signal that ended the case (SIGILL 4, SIGTRAP 5, SIGBUS 7,
    /// SIGSEGV 11).
    pub signal: u64,
    /// Fault address (SIGSEGV/SIGBUS) or PC (SIGILL).
    pub addr: u64,
    pub x: [u64; 31],
    pub sp: u64,
    pub nzcv: u64,
    pub fpcr: u64,
    pub fpsr: u64,
    pub v: [u128; 32],
    pub win: Vec<u8>,
}

impl Outcome {
    fn decode(r: &[u8]) -> Outcome {
        let q = |k: usize| u64::from_le_bytes(r[8 * k..8 * k + 8].try_into().unwrap());
        let mut x = [0; 31];
        for (k, v) in x.iter_mut().enumerate() {
            *v = q(2 + k);
        }
        let mut v = [0u128; 32];
        for (k, val) in v.iter_mut().enumerate() {
            let o = 304 + 16 * k;
            *val = u128::from_le_bytes(r[o..o + 16].try_into().unwrap());
        }
        Outcome {
            signal: q(0),
            addr: q(1),
            x,
            sp: q(33),
            nzcv: q(34),
            fpcr: q(35),
            fpsr: q(36),
            v,
            win: r[816..816 + WSIZE].to_vec(),
        }
    }

    /// The outcome as the initial state of a new case.
    pub fn as_case(&self, code: &[u32]) -> Case {
        Case {
            x: self.x,
            sp: self.sp,
            nzcv: self.nzcv,
            fpcr: self.fpcr,
            fpsr: self.fpsr,
            v: self.v,
            win: self.win.clone(),
            code: code.to_vec(),
        }
    }

    /// Human-readable differences from `want` (`self` is xarch's).
    /// `strict` compares everything, otherwise FPSR bits of open known
    /// bugs ([`IGNORE_UFC`]) are left out.
    pub fn diff(&self, want: &Outcome, lay: Layout, strict: bool) -> Vec<String> {
        let mut d = Vec::new();
        if self.signal != want.signal || (self.signal != 0 && self.addr != want.addr) {
            let s = |o: &Outcome| match o.signal {
                0 => "completed".to_string(),
                n => format!("signal {n} at {:#x}", o.addr),
            };
            d.push(format!("xarch {}, qemu {}", s(self), s(want)));
            return d;
        }
        if self.signal != 0 {
            return d;
        }
        let fpsr_mask = if IGNORE_UFC && !strict { !8 } else { !0 };
        for r in 0..31 {
            if self.x[r] != want.x[r] {
                d.push(format!("x{r} = {:#x}, qemu {:#x}", self.x[r], want.x[r]));
            }
        }
        for (n, g, w) in [
            ("sp", self.sp, want.sp),
            ("nzcv", self.nzcv, want.nzcv),
            ("fpcr", self.fpcr, want.fpcr),
            ("fpsr", self.fpsr & fpsr_mask, want.fpsr & fpsr_mask),
        ] {
            if g != w {
                d.push(format!("{n} = {g:#x}, qemu {w:#x}"));
            }
        }
        for r in 0..32 {
            if self.v[r] != want.v[r] {
                d.push(format!(
                    "v{r} = {:#034x}, qemu {:#034x}",
                    self.v[r], want.v[r]
                ));
            }
        }
        for (k, (g, w)) in self.win.chunks(8).zip(want.win.chunks(8)).enumerate() {
            if g != w {
                d.push(format!(
                    "mem[{:#x}] = {:016x}, qemu {:016x}",
                    lay.win + 8 * k as u64,
                    u64::from_le_bytes(g.try_into().unwrap()),
                    u64::from_le_bytes(w.try_into().unwrap())
                ));
            }
        }
        d
    }
}

/// Whether xarch lifts `insn`.
pub fn lifts(insn: u32) -> bool {
    let mut ctx = Ctx {
        b: Builder::new(),
        pc: 0x1000,
        term: None,
    };
    translate_insn(&mut ctx, insn).is_ok()
}

/// The external tools, or the name of the first one missing.
pub fn tools_missing() -> Option<&'static str> {
    [
        "aarch64-linux-gnu-as",
        "aarch64-linux-gnu-ld",
        "qemu-aarch64",
    ]
    .into_iter()
    .find(|t| Command::new(t).arg("--version").output().is_err())
}

fn run_ok(c: &mut Command) -> Vec<u8> {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    assert!(
        o.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("xarch-qdiff-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The QEMU side: the harness built for one layout.
pub struct Qemu {
    dir: TempDir,
    exe: PathBuf,
}

impl Qemu {
    pub fn build(tag: &str, lay: Layout) -> Qemu {
        let dir = TempDir::new(tag);
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/qdiff/harness.s");
        let obj = dir.0.join("harness.o");
        let exe = dir.0.join("harness");
        run_ok(
            Command::new("aarch64-linux-gnu-as")
                .arg(format!("--defsym=WSIZE={WSIZE}"))
                .arg(format!("--defsym=NWORDS={NWORDS}"))
                .arg("-o")
                .arg(&obj)
                .arg(&src),
        );
        run_ok(
            Command::new("aarch64-linux-gnu-ld")
                .arg(format!("--defsym=CODE={:#x}", lay.code))
                .arg(format!("--defsym=WIN={:#x}", lay.win))
                .arg("-o")
                .arg(&exe)
                .arg(&obj),
        );
        Qemu { dir, exe }
    }

    /// Starts QEMU on `cases`; `wait` gives the outcomes.
    pub fn spawn(&self, cases: &[Case], n: usize) -> Running {
        let input = self.dir.0.join(format!("in{n}"));
        let mut buf = Vec::with_capacity(cases.len() * IN_SIZE);
        for c in cases {
            c.encode(&mut buf);
        }
        std::fs::File::create(&input)
            .and_then(|mut f| f.write_all(&buf))
            .unwrap();
        let child = Command::new("qemu-aarch64")
            .args(["-cpu", "cortex-a72"])
            .arg(&self.exe)
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start qemu-aarch64");
        Running {
            child,
            input,
            n: cases.len(),
        }
    }

    pub fn run(&self, cases: &[Case]) -> Vec<Outcome> {
        self.spawn(cases, 0).wait()
    }
}

pub struct Running {
    child: std::process::Child,
    input: PathBuf,
    n: usize,
}

impl Running {
    pub fn wait(self) -> Vec<Outcome> {
        let o = self.child.wait_with_output().unwrap();
        let _ = std::fs::remove_file(&self.input);
        assert!(
            o.status.success() && o.stdout.len() == OUT_SIZE * self.n,
            "qemu harness failed ({}, {} of {} records): {}",
            o.status,
            o.stdout.len() / OUT_SIZE,
            self.n,
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout.chunks(OUT_SIZE).map(Outcome::decode).collect()
    }
}

/// The xarch side: the window mapped at the layout's fixed address.
pub struct Xarch {
    lay: Layout,
    interp: Interpreter,
}

impl Xarch {
    pub fn new(lay: Layout) -> Xarch {
        // SAFETY: a fresh anonymous mapping at an address nothing else uses
        // (MAP_FIXED_NOREPLACE fails rather than replace a mapping).
        let p = unsafe {
            libc::mmap(
                lay.code as *mut libc::c_void,
                0x2000,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        assert_eq!(
            p as u64,
            lay.code,
            "cannot map the test window at {:#x}: {}",
            lay.code,
            std::io::Error::last_os_error()
        );
        Xarch {
            lay,
            interp: Interpreter::new(),
        }
    }

    fn window(&mut self) -> &mut [u8] {
        // SAFETY: mapped read-write in `new` for the life of `self`, and
        // only this tester uses it.
        unsafe { std::slice::from_raw_parts_mut(self.lay.win as *mut u8, WSIZE) }
    }

    pub fn run(&mut self, c: &Case) -> Outcome {
        self.window().copy_from_slice(&c.win);
        let mut s = A64State {
            x: c.x,
            sp: c.sp,
            nzcv: c.nzcv,
            fpcr: c.fpcr,
            fpsr: c.fpsr,
            v: c.v,
            ..Default::default()
        };
        let base = self.lay.code;
        let end = base + 4 * c.code.len() as u64;
        s.pc = base;
        let (mut signal, mut addr) = (0, 0);
        while s.pc >= base && s.pc < end {
            let block = lift_block(s.pc, |a| {
                (a >= base && a < end).then(|| c.code[((a - base) / 4) as usize])
            })
            .expect("pc is inside the code");
            if let Err(e) = xarch_ir::verify::verify(&block) {
                panic!("invalid IR: {e}\n{block}");
            }
            // SAFETY: the block was lifted for A64State and `s` is one.
            match unsafe { self.interp.run(&block, &mut s as *mut A64State as *mut u8) } {
                BlockResult::Next(pc) => s.pc = pc,
                BlockResult::Exit(r, pc) => {
                    signal = match r {
                        ExitReason::Undefined { .. } => 4,
                        ExitReason::Breakpoint(_) => 5,
                        ExitReason::Syscall => 31,
                    };
                    addr = pc;
                    break;
                }
                BlockResult::Fault { fault, .. } => {
                    signal = 11;
                    addr = fault.addr;
                    break;
                }
            }
        }
        assert!(
            signal != 0 || s.pc == end,
            "case left its code at {:#x}",
            s.pc
        );
        Outcome {
            signal,
            addr,
            x: s.x,
            sp: s.sp,
            nzcv: s.nzcv,
            fpcr: s.fpcr,
            fpsr: s.fpsr,
            v: s.v,
            win: self.window().to_vec(),
        }
    }
}

/// Instruction groups of the Arm ARM encoding index that xarch lifts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Data processing (immediate), op0 = 100x.
    DpImm,
    /// Data processing (register), op0 = x101.
    DpReg,
    /// Branches, exception generation and system, op0 = 101x: the
    /// forward branches and the straight-line system instructions.
    Branch,
    /// Loads and stores, op0 = x1x0.
    Ldst,
    /// Data processing (SIMD&FP), op0 = x111.
    Simd,
}

impl Group {
    /// (mask, value) of the group's op0 bits.
    fn bits(self) -> (u32, u32) {
        match self {
            Group::DpImm => (0x1c00_0000, 0x1000_0000),
            Group::DpReg => (0x0e00_0000, 0x0a00_0000),
            Group::Branch => (0x1c00_0000, 0x1400_0000),
            Group::Ldst => (0x0a00_0000, 0x0800_0000),
            Group::Simd => (0x0e00_0000, 0x0e00_0000),
        }
    }
}

/// Encodings the generator leaves out because xarch is known to get them
/// wrong: (mask, value, regression test). Each has an `#[ignore]`d
/// regression test in qemu_diff.rs; remove the entry when it is fixed.
pub const KNOWN_BUGS: &[(u32, u32, &str)] = &[];

/// When true, FPCR keeps round-to-nearest: initial states use RMode 00 and
/// MSR FPCR sources have RMode cleared (see [`fpcr_fixup`]). For open
/// rounding-mode bugs; none now (the last, fixed, is
/// `fp_overflow_to_max_normal_sets_ofc`).
pub const AVOID_DIRECTED_ROUNDING: bool = false;

/// `and xd, xn, #!mask` where `mask` has bits `lo..=hi` set.
fn and_clear(rd: u32, rn: u32, lo: u32, hi: u32) -> u32 {
    let ones = 64 - (hi - lo + 1);
    let immr = (64 - (hi + 1)) % 64;
    0x9240_0000 | immr << 16 | (ones - 1) << 10 | rn << 5 | rd
}

/// The FPCR bits cleared in the source of an MSR FPCR: 21:16 (AArch32
/// Stride and Len, RES0 on the presented CPU but kept by QEMU's
/// Cortex-A72), plus RMode, FZ and AHP when the switches below say so.
fn fpcr_fixup(rt: u32) -> Vec<u32> {
    let hi = if AVOID_FLUSH_TO_ZERO {
        24
    } else if AVOID_DIRECTED_ROUNDING {
        23
    } else {
        21
    };
    let mut w = vec![and_clear(rt, rt, 16, hi)];
    if AVOID_AHP {
        w.push(and_clear(rt, rt, 26, 26));
    }
    w
}

/// When true, FPCR.AHP stays 0 (for open AHP bugs; none now, see
/// `fp_fcvt_half_honours_ahp`).
pub const AVOID_AHP: bool = false;

/// When true, FPCR.FZ stays 0 (initial states and MSR FPCR), for open
/// flush-to-zero bugs; none now (see `fp_fz_flush_sets_only_ufc`).
pub const AVOID_FLUSH_TO_ZERO: bool = false;

/// When true, FPSR.UFC (bit 3) is not compared, for open underflow bugs;
/// none now (see `fp_tiny_before_rounding_sets_ufc`).
pub const IGNORE_UFC: bool = false;

/// Encodings of extensions xarch implements but QEMU's Cortex-A72 model
/// (the oracle CPU: Armv8.0 + CRC32 + AES/SHA1/SHA2/PMULL) lacks, so QEMU
/// raises SIGILL for them: (mask, value, feature). They are checked by the
/// one-instruction cases of tests/isa_qemu.rs, recorded with a QEMU CPU
/// that has them. `-cpu max` is no better an oracle: its DC ZVA block size
/// and writable FPCR bits differ from the CPU xarch presents.
pub const BEYOND_ORACLE_CPU: &[(u32, u32, &str)] = &[
    (0x3b20_0c00, 0x3820_0000, "LSE atomic memory ops, LDAPR"),
    (0x3fa0_0000, 0x08a0_0000, "LSE CAS"),
    (0xbfa0_0000, 0x0820_0000, "LSE CASP"),
    (0x3f20_0c00, 0x1900_0000, "LRCPC2 LDAPUR/STLUR"),
    (0xbf20_f400, 0x2e00_8400, "RDM vector"),
    (0xff20_f400, 0x7e00_8400, "RDM scalar"),
    (0xbf00_d400, 0x2f00_d000, "RDM by element"),
    (0xff00_d400, 0x7f00_d000, "RDM scalar by element"),
    (0x9f20_fc00, 0x0e00_9400, "dot product"),
    (0x9f00_f400, 0x0f00_e000, "dot product by element"),
    (0xbf20_e400, 0x2e00_c400, "FCMLA"),
    (0xbf20_ec00, 0x2e00_e400, "FCADD"),
    (0xbf00_9400, 0x2f00_1000, "FCMLA by element"),
    (0xffff_fc00, 0x1e7e_0000, "JSCVT"),
    (0xfe00_0000, 0xce00_0000, "SHA3, SHA512"),
];

fn known_bug(w: u32) -> bool {
    KNOWN_BUGS
        .iter()
        .chain(BEYOND_ORACLE_CPU)
        .any(|&(m, v, _)| w & m == v)
}

/// How a generated instruction's word is completed once the sequence's
/// layout is known.
#[derive(Clone, Copy, Debug)]
enum Fix {
    None,
    /// A forward branch: offset to the start of a later item or the end.
    Branch,
    /// A PC-relative literal load of this window address.
    Literal(u64),
}

/// One tested instruction with the fixups that precede it.
#[derive(Clone, Debug)]
struct Item {
    words: Vec<u32>,
    fix: Fix,
}

/// MOVZ/MOVK instructions setting Xd to `v`.
fn mov_imm(rd: u32, v: u64) -> Vec<u32> {
    let mut w = vec![0xd280_0000 | ((v & 0xffff) as u32) << 5 | rd];
    for hw in 1..4 {
        let chunk = (v >> (16 * hw)) & 0xffff;
        if chunk != 0 {
            w.push(0xf280_0000 | (hw as u32) << 21 | (chunk as u32) << 5 | rd);
        }
    }
    w
}

fn field(w: u32, lo: u32, n: u32) -> u32 {
    (w >> lo) & ((1 << n) - 1)
}

fn sext(x: u32, n: u32) -> i64 {
    ((x as i64) << (64 - n)) >> (64 - n)
}

/// How a load/store computes its address.
#[derive(Clone, Copy, Debug)]
enum Addr {
    /// The base register (structure loads, exclusives, post-index).
    Base,
    /// Base plus an immediate.
    Offset(i64),
    /// Base plus extended and shifted Rm.
    Index { rm: u32, option: u32, shift: u32 },
    /// PC-relative.
    Literal,
}

/// The address computation of a lifted load/store word: base register,
/// addressing, bytes it may touch from the address, required alignment.
fn mem_plan(w: u32) -> Option<(u32, Addr, u64, u64)> {
    let rn = field(w, 5, 5);
    let v = field(w, 26, 1) == 1;
    let size = field(w, 30, 2);
    let opc = field(w, 22, 2);
    let scale = if v && opc & 2 != 0 { 4 } else { size };
    if w & 0xbf00_0000 == 0x0c00_0000 || w & 0xbf00_0000 == 0x0d00_0000 {
        // AdvSIMD structures (up to 4 x 16 bytes), optionally post-indexed.
        return Some((rn, Addr::Base, 64, 1));
    }
    if w & 0x3f00_0000 == 0x0800_0000 {
        // Exclusives, acquire/release: aligned.
        return Some((rn, Addr::Base, 16, 16));
    }
    if w & 0x3b00_0000 == 0x1800_0000 {
        return Some((rn, Addr::Literal, 16, 4));
    }
    if w & 0x3a00_0000 == 0x2800_0000 {
        let opc = size;
        let scale = match (v, opc) {
            (true, o) => 2 + o,
            (false, 2) => 3,
            _ => 2,
        };
        let imm = sext(field(w, 15, 7), 7) << scale;
        let off = if field(w, 23, 2) == 1 { 0 } else { imm };
        return Some((rn, Addr::Offset(off), 2 << scale, 1));
    }
    if w & 0x3b00_0000 == 0x3900_0000 {
        let off = (field(w, 10, 12) as i64) << scale;
        return Some((rn, Addr::Offset(off), 1 << scale, 1));
    }
    if w & 0x3b20_0000 == 0x3800_0000 {
        let off = if field(w, 10, 2) == 1 {
            0
        } else {
            sext(field(w, 12, 9), 9)
        };
        return Some((rn, Addr::Offset(off), 1 << scale, 1));
    }
    if w & 0x3b20_0c00 == 0x3820_0800 {
        let shift = if field(w, 12, 1) == 1 { scale } else { 0 };
        let addr = Addr::Index {
            rm: field(w, 16, 5),
            option: field(w, 13, 3),
            shift,
        };
        return Some((rn, addr, 1 << scale, 1));
    }
    None
}

/// The sequence generator.
pub struct Gen<'a> {
    pub rng: &'a mut Rng,
    pub lay: Layout,
}

impl Gen<'_> {
    /// A random word of `g` that xarch lifts.
    fn word(&mut self, g: Group) -> u32 {
        let (m, v) = g.bits();
        loop {
            let w = (self.rng.next() >> 32) as u32 & !m | v;
            if lifts(w) && !known_bug(w) {
                return w;
            }
        }
    }

    /// A window address for an access of `size` bytes aligned to `align`,
    /// with 16 bytes of slack below (for aligning SP down).
    fn target(&mut self, size: u64, align: u64) -> u64 {
        let span = WSIZE as u64 - 16 - size;
        (self.lay.win + 16 + self.rng.below(span + 1)) & !(align - 1)
    }

    /// Fixups that make Xn (or SP for 31) equal `b`.
    fn set_base(&mut self, rn: u32, b: u64, out: &mut Vec<u32>) {
        if rn == 31 {
            let s = self.rng.below(31) as u32;
            out.extend(mov_imm(s, b));
            out.push(0x9100_0000 | s << 5 | 31); // mov sp, xS
        } else {
            out.extend(mov_imm(rn, b));
        }
    }

    /// A load/store item, or None if the word cannot be made safe.
    fn mem_item(&mut self, w: u32) -> Option<Item> {
        // LDAR/STLR: Rs and Rt2 are should-be-one fields. Other values are
        // CONSTRAINED UNPREDICTABLE (UNDEFINED or as if all ones): QEMU
        // raises SIGILL, xarch executes them; both are allowed.
        let w = if w & 0x3fa0_0000 == 0x0880_0000 {
            w | 0x1f << 16 | 0x1f << 10
        } else {
            w
        };
        let (rn, addr, size, align) = mem_plan(w)?;
        let mut t = self.target(size, align);
        if w & 0x3f80_0000 == 0x0800_0000 {
            // Load/store exclusive: a store-exclusive of another size than
            // the load-exclusive that tagged its address may or may not
            // succeed (CONSTRAINED UNPREDICTABLE; QEMU compares the low bytes,
            // xarch fails it). Each size and pair form gets addresses of its
            // own, where a mismatched store-exclusive fails on the address.
            let class = u64::from(field(w, 30, 2) | field(w, 21, 1) << 2);
            t = self.lay.win + 16 * (1 + class + 8 * self.rng.below(3));
        }
        let mut words = Vec::new();
        let mut fix = Fix::None;
        match addr {
            Addr::Base => self.set_base(rn, t, &mut words),
            Addr::Offset(off) => self.set_base(rn, t.wrapping_add_signed(-off), &mut words),
            Addr::Literal => fix = Fix::Literal(t),
            Addr::Index { rm, option, shift } => {
                if rm == rn {
                    return None;
                }
                let small = self.rng.below(129) as i64 - 64;
                let junk = self.rng.next() << 32;
                let (reg, ext) = match option {
                    0b010 => {
                        let s = small.unsigned_abs();
                        (junk | s, s as i64)
                    }
                    0b110 => (junk | small as u32 as u64, small),
                    _ => (small as u64, small),
                };
                let ext = if rm == 31 { 0 } else { ext };
                self.set_base(rn, t.wrapping_add_signed(-(ext << shift)), &mut words);
                if rm != 31 {
                    words.extend(mov_imm(rm, reg));
                }
            }
        }
        words.push(w);
        Some(Item { words, fix })
    }

    /// A branch/system item, or None if the word is not straight-line.
    fn branch_item(&mut self, w: u32) -> Option<Item> {
        let branch = w & 0xff00_0010 == 0x5400_0000 // B.cond
            || w & 0x7c00_0000 == 0x1400_0000 // B, BL
            || w & 0x7c00_0000 == 0x3400_0000; // CBZ/CBNZ, TBZ/TBNZ
        if branch {
            return Some(Item {
                words: vec![w],
                fix: Fix::Branch,
            });
        }
        if w & 0xffc0_0000 != 0xd500_0000 {
            return None; // exception generation, branch to register
        }
        let op0 = field(w, 19, 2);
        let sysreg = (
            op0,
            field(w, 16, 3),
            field(w, 12, 4),
            field(w, 8, 4),
            field(w, 5, 3),
        );
        let read = field(w, 21, 1) == 1;
        match op0 {
            0 => Some(Item {
                words: vec![w],
                fix: Fix::None,
            }),
            1 => {
                // DC/IC by address: point Xt into the window (DC ZVA zeroes
                // the 64-byte block holding it).
                let rt = field(w, 0, 5);
                if rt == 31 {
                    return None;
                }
                let t = self.lay.win + 64 * self.rng.below(WSIZE as u64 / 64) + self.rng.below(64);
                let mut words = mov_imm(rt, t);
                words.push(w);
                Some(Item {
                    words,
                    fix: Fix::None,
                })
            }
            _ => {
                let ok = matches!(sysreg, (3, 3, 4, 2, 0) | (3, 3, 4, 4, 0) | (3, 3, 4, 4, 1))
                    || read
                        && matches!(sysreg, (3, 3, 0, 0, 1) | (3, 3, 0, 0, 7) | (3, 3, 13, 0, 3));
                if !ok {
                    return None;
                }
                // MSR FPCR/FPSR: xarch presents a CPU without AArch32, where
                // FPCR.Stride/Len (21:20, 18:16) and FPSR.N/Z/C/V (31:28)
                // are RES0; QEMU's Cortex-A72 has AArch32 and keeps them.
                // Clear them in the source register first.
                let rt = field(w, 0, 5);
                let mut words = Vec::new();
                if !read && rt != 31 {
                    match sysreg {
                        (3, 3, 4, 4, 0) => words.extend(fpcr_fixup(rt)),
                        (3, 3, 4, 4, 1) => words.push(and_clear(rt, rt, 28, 31)),
                        _ => {}
                    }
                }
                words.push(w);
                Some(Item {
                    words,
                    fix: Fix::None,
                })
            }
        }
    }

    /// A system instruction from the few that random words rarely hit:
    /// MRS/MSR of NZCV, FPCR and FPSR, DC ZVA, CLREX, barriers.
    fn system_word(&mut self) -> u32 {
        const T: [u32; 10] = [
            0xd53b_4200, // mrs xt, nzcv
            0xd51b_4200, // msr nzcv, xt
            0xd53b_4400, // mrs xt, fpcr
            0xd51b_4400, // msr fpcr, xt
            0xd53b_4420, // mrs xt, fpsr
            0xd51b_4420, // msr fpsr, xt
            0xd50b_7420, // dc zva, xt
            0xd503_305f, // clrex
            0xd503_3bbf, // dmb ish
            0xd503_201f, // nop (hint space)
        ];
        let k = self.rng.below(T.len() as u64) as usize;
        let r = self.rng.below(32) as u32;
        match k {
            7 | 8 => T[k] | (r & 0xf) << 8,
            9 => T[k] | r << 5 | (self.rng.below(4) as u32) << 10,
            _ => T[k] | r,
        }
    }

    fn item(&mut self, g: Group) -> Item {
        loop {
            let w = if g == Group::Branch && self.rng.one_in(3) {
                self.system_word()
            } else {
                self.word(g)
            };
            if !lifts(w) || known_bug(w) {
                continue;
            }
            let item = match g {
                Group::Ldst => self.mem_item(w),
                Group::Branch => self.branch_item(w),
                _ => Some(Item {
                    words: vec![w],
                    fix: Fix::None,
                }),
            };
            if let Some(i) = item {
                return i;
            }
        }
    }

    /// A sequence of `n` instructions drawn from `groups`, as code words.
    pub fn sequence(&mut self, groups: &[Group], n: usize) -> Vec<u32> {
        let items: Vec<Item> = (0..n)
            .map(|_| {
                let g = groups[self.rng.below(groups.len() as u64) as usize];
                self.item(g)
            })
            .collect();
        let mut starts = Vec::new();
        let mut code = Vec::new();
        for it in &items {
            starts.push(code.len());
            code.extend(&it.words);
        }
        starts.push(code.len());
        for (k, it) in items.iter().enumerate() {
            let at = starts[k + 1] - 1;
            let pc = self.lay.code + 4 * at as u64;
            let w = code[at];
            code[at] = match it.fix {
                Fix::None => w,
                Fix::Literal(t) => {
                    let imm = ((t as i64 - pc as i64) >> 2) as u32 & 0x7ffff;
                    w & !(0x7ffff << 5) | imm << 5
                }
                Fix::Branch => {
                    let later = &starts[k + 1..];
                    let to = later[self.rng.below(later.len() as u64) as usize];
                    let off = (to - at) as u32;
                    if w & 0x7c00_0000 == 0x1400_0000 {
                        w & !0x3ff_ffff | off
                    } else if w & 0x7e00_0000 == 0x3600_0000 {
                        w & !(0x3fff << 5) | off << 5
                    } else {
                        w & !(0x7ffff << 5) | off << 5
                    }
                }
            };
        }
        code
    }
}

/// Disassembly of `words` at the layout's code address (objdump), or the
/// hex words if that fails.
pub fn disassemble(words: &[u32], lay: Layout) -> String {
    let dir = TempDir::new("dis");
    let mut s = String::new();
    for w in words {
        let _ = writeln!(s, ".inst {w:#010x}");
    }
    let src = dir.0.join("d.s");
    let obj = dir.0.join("d.o");
    std::fs::write(&src, s).unwrap();
    let ok = Command::new("aarch64-linux-gnu-as")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    let out = ok
        .then(|| {
            Command::new("aarch64-linux-gnu-objdump")
                .arg("-d")
                .arg(format!("--adjust-vma={:#x}", lay.code))
                .arg(&obj)
                .output()
                .ok()
        })
        .flatten();
    match out {
        Some(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains(":\t"))
            .map(|l| format!("    {}\n", l.trim_start().replace('\t', " ")))
            .collect(),
        _ => words.iter().map(|w| format!("    {w:#010x}\n")).collect(),
    }
}

/// Finds the first word of `case` after which xarch and QEMU differ
/// (later words replaced by NOPs, so branch targets stay valid) and
/// describes it with the state before it.
pub fn reduce(case: &Case, q: &Qemu, x: &mut Xarch, lay: Layout) -> String {
    let prefixes: Vec<Case> = (0..=case.code.len())
        .map(|k| {
            let mut c = case.clone();
            for w in &mut c.code[k..] {
                *w = NOP;
            }
            c
        })
        .collect();
    let want = q.run(&prefixes);
    for k in 1..prefixes.len() {
        let d = x.run(&prefixes[k]).diff(&want[k], lay, false);
        if d.is_empty() {
            continue;
        }
        let before = &want[k - 1];
        let w = case.code[k - 1];
        let mut s = format!(
            "first differing instruction: word {} = {w:#010x} at pc {:#x}\n{}  differences:\n",
            k - 1,
            lay.code + 4 * (k as u64 - 1),
            disassemble(
                &case.code[k - 1..k],
                Layout {
                    code: lay.code + 4 * (k as u64 - 1),
                    ..lay
                }
            )
        );
        for l in &d {
            let _ = writeln!(s, "    {l}");
        }
        let _ = writeln!(s, "  state before it (qemu):\n{}", state_str(before));
        return s;
    }
    "no single instruction reproduces the difference\n".to_string()
}

fn state_str(o: &Outcome) -> String {
    let mut s = String::new();
    for r in 0..31 {
        let _ = write!(s, "x{r}={:#x} ", o.x[r]);
    }
    let _ = writeln!(
        s,
        "sp={:#x} nzcv={:#x} fpcr={:#x} fpsr={:#x}",
        o.sp, o.nzcv, o.fpcr, o.fpsr
    );
    for r in 0..32 {
        let _ = write!(s, "v{r}={:#034x} ", o.v[r]);
    }
    s
}

/// Runs one case under both and panics with the differences, if any (for
/// regression tests of mismatches found by [`run_diff`]).
pub fn check(name: &str, slot: u64, case: &Case) {
    if let Some(t) = tools_missing() {
        eprintln!("skipping {name}: {t} not installed");
        return;
    }
    let lay = Layout::slot(slot);
    let q = Qemu::build(name, lay);
    let want = q.run(std::slice::from_ref(case)).remove(0);
    let got = Xarch::new(lay).run(case);
    let d = got.diff(&want, lay, true);
    assert!(
        d.is_empty(),
        "{name}:\n{}  {}",
        disassemble(&case.code, lay),
        d.join("\n  ")
    );
}

/// Parameters of one differential run.
pub struct Config {
    pub name: &'static str,
    /// Layout slot, unique per test of the binary.
    pub slot: u64,
    pub groups: &'static [Group],
    pub seed: u64,
    /// Instructions (excluding fixups) in the default, fixed-seed run.
    pub insns: u64,
    /// Instructions per case.
    pub per_case: usize,
}

/// Runs a differential test; panics with a report of every mismatch.
///
/// `XARCH_QDIFF_INSNS=N` replaces the instruction count (e.g. 10000000
/// for the long run), `XARCH_QDIFF_SEED=S` the seed, and
/// `XARCH_QDIFF_REPORT=N` the number of mismatches reduced and reported
/// (default 20).
pub fn run_diff(cfg: &Config) {
    if let Some(t) = tools_missing() {
        eprintln!("skipping {}: {t} not installed", cfg.name);
        return;
    }
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let insns = env("XARCH_QDIFF_INSNS").unwrap_or(cfg.insns);
    let seed = env("XARCH_QDIFF_SEED").unwrap_or(cfg.seed);
    let report_max = env("XARCH_QDIFF_REPORT").unwrap_or(20) as usize;
    // A group of which xarch lifts nothing yet would make the generator
    // spin: leave it out.
    let mut probe = Rng(seed ^ 0x5eed);
    let groups: Vec<Group> = cfg
        .groups
        .iter()
        .copied()
        .filter(|&g| {
            let (m, v) = g.bits();
            let any = (0..100_000).any(|_| lifts((probe.next() >> 32) as u32 & !m | v));
            if !any {
                eprintln!("{}: xarch lifts nothing of {g:?} yet, left out", cfg.name);
            }
            any
        })
        .collect();
    if groups.is_empty() {
        eprintln!("skipping {}: nothing to test", cfg.name);
        return;
    }
    let lay = Layout::slot(cfg.slot);
    let q = Qemu::build(cfg.name, lay);
    let mut x = Xarch::new(lay);
    let mut rng = Rng(seed);
    let ncases = insns.div_ceil(cfg.per_case as u64) as usize;
    let mut failures = Vec::new();
    let mut mismatches = 0u64;
    let mut executed = 0u64;
    let mut words = 0u64;
    let mut batch_no = 0;
    let make_batch = |rng: &mut Rng, n: usize| -> Vec<Case> {
        (0..n)
            .map(|_| {
                let code = Gen { rng, lay }.sequence(&groups, cfg.per_case);
                Case::random(rng, code)
            })
            .collect()
    };
    let mut left = ncases;
    let mut pending = None;
    while left > 0 || pending.is_some() {
        // Start QEMU on the next batch while xarch runs the previous one.
        let next = (left > 0).then(|| {
            let n = left.min(BATCH);
            left -= n;
            let b = make_batch(&mut rng, n);
            batch_no += 1;
            let r = q.spawn(&b, batch_no);
            (b, r)
        });
        if let Some((cases, running)) = pending.take() {
            let cases: Vec<Case> = cases;
            let running: Running = running;
            let want = running.wait();
            for (c, w) in cases.iter().zip(&want) {
                executed += 1;
                words += c.code.len() as u64;
                let got = x.run(c);
                let d = got.diff(w, lay, false);
                if !d.is_empty() {
                    mismatches += 1;
                    if failures.len() < report_max {
                        failures.push((c.clone(), d));
                    }
                }
            }
        }
        pending = next;
    }
    eprintln!(
        "{}: {executed} cases, {} instructions ({words} words with fixups), seed {seed:#x}, {mismatches} mismatches",
        cfg.name,
        executed * cfg.per_case as u64,
    );
    if failures.is_empty() {
        return;
    }
    let mut report = String::new();
    for (c, d) in &failures {
        let _ = writeln!(
            report,
            "--- case (seed {seed:#x}):\n{}  {}\n  {}",
            disassemble(&c.code, lay),
            d.join("\n  "),
            reduce(c, &q, &mut x, lay)
        );
    }
    panic!(
        "{}: {} mismatching cases\n{report}",
        cfg.name,
        failures.len()
    );
}
