//! Which instructions of a real program can xarch lift?
//!
//! Reads `objdump -d` output of an arm64 binary on stdin and prints, per
//! mnemonic, how many instruction words are unallocated or unimplemented
//! for xarch's frontend:
//!
//! ```text
//! aarch64-linux-gnu-objdump -d busybox | cargo run -p xarch-a64 --example coverage
//! ```

use std::collections::BTreeMap;
use std::io::BufRead;
use xarch_a64::lift::{Ctx, LiftError, translate_insn};

fn main() {
    let mut total = 0u64;
    let mut missing: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        // "  4001b0:	d503201f 	nop"
        let mut parts = line.split('\t');
        let (Some(addr), Some(word), Some(text)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !addr.trim_end().ends_with(':') {
            continue;
        }
        let Ok(insn) = u32::from_str_radix(word.trim(), 16) else {
            continue;
        };
        if word.trim().len() != 8 {
            continue;
        }
        let mnemonic = text.split_whitespace().next().unwrap_or("?").to_string();
        if mnemonic == ".inst" || mnemonic == "udf" {
            continue;
        }
        total += 1;
        let mut ctx = Ctx {
            b: xarch_ir::Builder::new(),
            pc: 0x1000,
            term: None,
        };
        if let Err(e) = translate_insn(&mut ctx, insn) {
            let why = match e {
                LiftError::Unallocated => "unallocated".to_string(),
                LiftError::Unimplemented(n) => format!("unimplemented: {n}"),
            };
            let entry = missing
                .entry(mnemonic)
                .or_insert((0, format!("{insn:08x} {} ({why})", text.trim())));
            entry.0 += 1;
        }
    }
    let mut rows: Vec<_> = missing.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.0));
    let bad: u64 = rows.iter().map(|r| r.1.0).sum();
    for (m, (n, example)) in &rows {
        println!("{n:8} {m:12} e.g. {example}");
    }
    println!(
        "{} of {total} instruction words not liftable ({} mnemonics)",
        bad,
        rows.len()
    );
}
