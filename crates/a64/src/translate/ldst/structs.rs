//! Advanced SIMD load/store structures: LD1-LD4/ST1-ST4 (multiple
//! structures, single structure to one lane) and LD1R-LD4R (load and
//! replicate), with and without post-index.
//!
//! A load writes its registers only after all its memory accesses, so a
//! fault leaves them unchanged; a 64-bit arrangement (Q = 0) zeroes the
//! upper half of each register it loads, a single-lane load keeps the other
//! lanes.

use super::{I64, offset_addr, rn, rt};
use crate::decode::{bit, bits};
use crate::lift::{Ctx, LiftResult};
use xarch_ir::{Type, Value};

/// Post-index writeback: `Xn|SP += (Rm == 31 ? total : Xm)`.
fn post_index(c: &mut Ctx, i: u32, base: Value, total: u64) {
    if !bit(i, 23) {
        return;
    }
    let m = bits(i, 16, 5);
    let off = if m == 31 { c.c64(total) } else { c.x(m) };
    let wb = c.b.add(base, off);
    c.set_xsp(rn(i), wb);
}

/// LD1-LD4/ST1-ST4 (multiple structures): opcode bits 15:12 give the
/// number of registers and the interleave, size bits 11:10 the element.
pub(super) fn multiple(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let load = bit(i, 22);
    let size = bits(i, 10, 2);
    let (rpt, selem) = match bits(i, 12, 4) {
        0b0000 => (1, 4),
        0b0010 => (4, 1),
        0b0100 => (1, 3),
        0b0110 => (3, 1),
        0b0111 => (1, 1),
        0b1000 => (1, 2),
        0b1010 => (2, 1),
        _ => return c.unallocated(),
    };
    // The .1D arrangement exists only for LD1/ST1.
    if size == 3 && !q && selem != 1 {
        return c.unallocated();
    }
    let t = rt(i);
    let base = c.xsp(rn(i));
    let regbytes: u64 = if q { 16 } else { 8 };
    let regty = if q { Type::I128 } else { I64 };
    let nregs = rpt * selem;
    let reg = |k: u32| (t + k) % 32;
    if selem == 1 {
        // Consecutive registers, each a contiguous little-endian block.
        if load {
            let vals: Vec<Value> = (0..nregs)
                .map(|r| {
                    let a = offset_addr(c, base, (r as u64 * regbytes) as i64);
                    c.b.load(a, regty)
                })
                .collect();
            for (r, v) in vals.into_iter().enumerate() {
                c.set_vscalar(reg(r as u32), v);
            }
        } else {
            for r in 0..nregs {
                let v = if q {
                    c.v(reg(r))
                } else {
                    c.vscalar(reg(r), I64)
                };
                let a = offset_addr(c, base, (r as u64 * regbytes) as i64);
                c.b.store(a, v);
            }
        }
    } else {
        // Interleaved structures: element e of register s is at
        // (e * selem + s) * ebytes.
        let esize = 8u32 << size;
        let ebytes = esize / 8;
        let ety = Type::from_bytes(ebytes);
        let elements = regbytes as u32 / ebytes;
        if load {
            let mut vals: Vec<Value> = (0..selem).map(|_| c.b.const128(0)).collect();
            for e in 0..elements {
                for (s, v) in vals.iter_mut().enumerate() {
                    let off = ((e * selem + s as u32) * ebytes) as i64;
                    let a = offset_addr(c, base, off);
                    let x = c.b.load(a, ety);
                    *v = c.b.insert_lane(*v, x, esize as u8, e as u8);
                }
            }
            for (s, v) in vals.into_iter().enumerate() {
                c.set_v(reg(s as u32), v);
            }
        } else {
            let vals: Vec<Value> = (0..selem).map(|s| c.v(reg(s))).collect();
            for e in 0..elements {
                for (s, &v) in vals.iter().enumerate() {
                    let off = ((e * selem + s as u32) * ebytes) as i64;
                    let a = offset_addr(c, base, off);
                    let x = c.b.extract_lane(v, esize as u8, e as u8, ety);
                    c.b.store(a, x);
                }
            }
        }
    }
    post_index(c, i, base, nregs as u64 * regbytes);
    Ok(())
}

/// LD1-LD4/ST1-ST4 (single structure) and LD1R-LD4R: opcode bits 15:13
/// and R (bit 21) give the element size and the number of registers; Q,
/// S and size give the lane.
pub(super) fn single(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let load = bit(i, 22);
    let opcode = bits(i, 13, 3);
    let s = bits(i, 12, 1);
    let size = bits(i, 10, 2);
    let qb = q as u32;
    let selem = ((opcode & 1) << 1 | bits(i, 21, 1)) + 1;
    let mut scale = opcode >> 1;
    let mut replicate = false;
    let mut index = 0;
    match scale {
        3 => {
            if !load || s == 1 {
                return c.unallocated();
            }
            scale = size;
            replicate = true;
        }
        0 => index = qb << 3 | s << 2 | size,
        1 => {
            if size & 1 == 1 {
                return c.unallocated();
            }
            index = qb << 2 | s << 1 | size >> 1;
        }
        _ => {
            if size & 2 != 0 {
                return c.unallocated();
            }
            if size & 1 == 0 {
                index = qb << 1 | s;
            } else {
                if s == 1 {
                    return c.unallocated();
                }
                index = qb;
                scale = 3;
            }
        }
    }
    let esize = 8u8 << scale;
    let ebytes = 1u32 << scale;
    let ety = Type::from_bytes(ebytes);
    let t = rt(i);
    let reg = |k: u32| (t + k) % 32;
    let base = c.xsp(rn(i));
    if load {
        let elems: Vec<Value> = (0..selem)
            .map(|k| {
                let a = offset_addr(c, base, (k * ebytes) as i64);
                c.b.load(a, ety)
            })
            .collect();
        for (k, x) in elems.into_iter().enumerate() {
            let r = reg(k as u32);
            if replicate {
                let d = c.b.dup(x, esize);
                if q {
                    c.set_v(r, d);
                } else {
                    let lo = c.b.trunc(d, I64);
                    c.set_vscalar(r, lo);
                }
            } else {
                let old = c.v(r);
                let v = c.b.insert_lane(old, x, esize, index as u8);
                c.set_v(r, v);
            }
        }
    } else {
        for k in 0..selem {
            let v = c.v(reg(k));
            let x = c.b.extract_lane(v, esize, index as u8, ety);
            let a = offset_addr(c, base, (k * ebytes) as i64);
            c.b.store(a, x);
        }
    }
    post_index(c, i, base, (selem * ebytes) as u64);
    Ok(())
}
