//! Differential test of the data-processing (register) group against
//! qemu-aarch64: random encodings of the group that xarch lifts are run on
//! random register and flag states, once by xarch (lifter + interpreter)
//! and once by QEMU in a generated static program, and the whole register
//! file (X0-X30, SP, NZCV) must match.
//!
//! Needs `aarch64-linux-gnu-as`, `aarch64-linux-gnu-ld` and `qemu-aarch64`
//! (Debian: binutils-aarch64-linux-gnu, qemu-user); skipped with a message
//! when they are missing.

use std::path::Path;
use std::process::Command;
use xarch_a64::lift::{Ctx, translate_insn};
use xarch_a64::state::A64State;
use xarch_a64::testing::run;
use xarch_ir::Builder;

/// SplitMix64 with a fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A register value biased towards the edges where bugs live.
    fn value(&mut self) -> u64 {
        const EDGES: [u64; 8] = [
            0,
            1,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            1 << 32,
            1 << 63,
            u64::MAX >> 1,
        ];
        let r = self.next();
        match r % 6 {
            0 => r >> 58,                       // small
            1 => (r >> 58).wrapping_neg(),      // small negative
            2 => EDGES[(r >> 40) as usize % 8], // edge
            3 => r >> 32,                       // 32-bit
            4 => (r >> 33) | 0xffff_ffff_8000_0000,
            _ => self.next(),
        }
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Bytes of the state record the generated program writes per case:
/// X0-X30, SP, NZCV.
const RECORD: usize = 33 * 8;

/// Assembly that loads `state` (X0-X30, SP, NZCV), executes `insn` and
/// stores the resulting state to `out<k>`.
fn case_asm(k: usize, insn: u32) -> String {
    let mut s = format!(
        "adrp x0, in{k}\nadd x0, x0, :lo12:in{k}\n\
         ldr x1, [x0, #248]\nmov sp, x1\nldr x1, [x0, #256]\nmsr nzcv, x1\n"
    );
    for r in (1..31).step_by(2) {
        s += &format!("ldp x{r}, x{}, [x0, #{}]\n", r + 1, 8 * r);
    }
    // X0 is restored last; after the instruction TPIDR_EL0 holds it while
    // X0 addresses the output record.
    s += &format!(
        "ldr x0, [x0]\n.inst {insn:#010x}\nmsr tpidr_el0, x0\n\
         adrp x0, out{k}\nadd x0, x0, :lo12:out{k}\n"
    );
    for r in (1..31).step_by(2) {
        s += &format!("stp x{r}, x{}, [x0, #{}]\n", r + 1, 8 * r);
    }
    s += "mov x1, sp\nstr x1, [x0, #248]\nmrs x1, nzcv\nstr x1, [x0, #256]\n\
          mrs x1, tpidr_el0\nstr x1, [x0]\n";
    s
}

/// Runs `cases` under QEMU; returns the state after each.
fn run_qemu(dir: &Path, cases: &[(u32, Vec<u64>)]) -> Vec<Vec<u64>> {
    let mut asm = String::from(".global _start\n_start:\n");
    for (k, (insn, _)) in cases.iter().enumerate() {
        asm += &case_asm(k, *insn);
    }
    asm += &format!(
        "adrp x1, out0\nadd x1, x1, :lo12:out0\nmov x0, #1\nldr x2, ={}\n\
         mov x8, #64\nsvc #0\nmov x0, #0\nmov x8, #93\nsvc #0\n.ltorg\n\
         .data\n.balign 16\n",
        RECORD * cases.len()
    );
    for (k, (_, regs)) in cases.iter().enumerate() {
        let vals: Vec<String> = regs.iter().map(|v| format!("{v:#x}")).collect();
        asm += &format!("in{k}: .quad {}\n", vals.join(", "));
    }
    // The output records are contiguous, written out in one go.
    for k in 0..cases.len() {
        asm += &format!("out{k}: .skip {RECORD}\n");
    }
    let src = dir.join("t.s");
    std::fs::write(&src, asm).unwrap();
    let ok = |c: &mut Command| {
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    ok(Command::new("aarch64-linux-gnu-as")
        .arg("-o")
        .arg(dir.join("t.o"))
        .arg(&src));
    ok(Command::new("aarch64-linux-gnu-ld")
        .arg("-o")
        .arg(dir.join("t"))
        .arg(dir.join("t.o")));
    let out = ok(Command::new("qemu-aarch64").arg(dir.join("t")));
    assert_eq!(out.len(), RECORD * cases.len(), "short output from qemu");
    out.chunks(RECORD)
        .map(|r| {
            r.chunks(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        })
        .collect()
}

#[test]
fn dp_reg_matches_qemu() {
    let tools = [
        "aarch64-linux-gnu-as",
        "aarch64-linux-gnu-ld",
        "qemu-aarch64",
    ];
    if let Some(t) = tools.iter().find(|t| !have(t)) {
        eprintln!("skipping dp_reg_matches_qemu: {t} not installed");
        return;
    }
    let mut rng = Rng(0xd0_5eed);
    let mut cases = Vec::new();
    while cases.len() < 3000 {
        // Any word of the group (bits 27:25 = 101) that xarch lifts.
        let insn = ((rng.next() >> 32) as u32 & !(0b111 << 25)) | (0b101 << 25);
        let mut ctx = Ctx {
            b: Builder::new(),
            pc: 0,
            term: None,
        };
        if translate_insn(&mut ctx, insn).is_err() {
            continue;
        }
        let mut regs: Vec<u64> = (0..31).map(|_| rng.value()).collect();
        regs.push(rng.value() & !0xf); // SP
        regs.push((rng.next() >> 60) << 28); // NZCV
        cases.push((insn, regs));
    }
    let dir = std::env::temp_dir().join(format!("xarch-qemu-dp-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let want = run_qemu(&dir, &cases);
    let _ = std::fs::remove_dir_all(&dir);

    let mut failures = Vec::new();
    for ((insn, regs), want) in cases.iter().zip(&want) {
        let mut s = A64State::default();
        s.x.copy_from_slice(&regs[..31]);
        s.sp = regs[31];
        s.nzcv = regs[32];
        assert_eq!(run(&mut s, &[*insn]), None, "{insn:#010x} did not execute");
        let mut got = s.x.to_vec();
        got.extend([s.sp, s.nzcv]);
        for (r, (g, w)) in got.iter().zip(want).enumerate() {
            if g != w {
                let name = match r {
                    31 => "sp".to_string(),
                    32 => "nzcv".to_string(),
                    _ => format!("x{r}"),
                };
                failures.push(format!(
                    "{insn:#010x}: {name} = {g:#x}, qemu {w:#x} (inputs {regs:x?})"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
