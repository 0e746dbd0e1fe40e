//! Vector ops in the optimizing tier: Cranelift SIMD instructions where
//! Cranelift has the same lane operation, the host's AES-NI/PCLMULQDQ
//! through [`xarch_ir::crypto::host`], and a direct call of
//! [`xarch_ir::vector::eval`] for the rest. IR `I128` values are
//! Cranelift `i128`s; a vector op's result is also kept as a vector
//! (`Lower::vecs`) so chains of vector ops, `GetState`/`SetState` and
//! stores stay in XMM registers (the unused `i128` forms are dead code).

use super::Lower;
use crate::vector::{self as jv, byte_permutation, uniform_shift};
use cranelift_codegen::ir::condcodes::IntCC as CC;
use cranelift_codegen::ir::{self, AbiParam, InstBuilder, MemFlagsData, Signature, types};
use cranelift_codegen::isa::CallConv;
use xarch_ir::{Block, CryptoOp, Op, Type, Value, VecOp};

fn lane_ty(e: u8) -> ir::Type {
    match e {
        8 => types::I8X16,
        16 => types::I16X8,
        32 => types::I32X4,
        _ => types::I64X2,
    }
}

fn scalar_ty(e: u8) -> ir::Type {
    match e {
        8 => types::I8,
        16 => types::I16,
        32 => types::I32,
        _ => types::I64,
    }
}

/// Bitcasts between `i128` and vectors (lane order = byte order).
fn le() -> MemFlagsData {
    MemFlagsData::new().with_endianness(ir::Endianness::Little)
}

/// The lane op behind a pairwise op (pair i = UZP1 lane i op UZP2 lane i).
fn unpaired(op: VecOp) -> Option<VecOp> {
    Some(match op {
        VecOp::AddP => VecOp::Add,
        VecOp::UMaxP => VecOp::UMax,
        VecOp::UMinP => VecOp::UMin,
        VecOp::SMaxP => VecOp::SMax,
        VecOp::SMinP => VecOp::SMin,
        _ => return None,
    })
}

impl Lower<'_, '_> {
    /// IR value `x` (an `I128`) as a Cranelift vector of type `t`.
    pub(super) fn vec_of(&mut self, x: Value, t: ir::Type) -> ir::Value {
        let v = match self.vecs[x.0 as usize] {
            Some(v) => v,
            None => {
                let w = self.v(x);
                let v = self.b.ins().bitcast(t, le(), w);
                self.vecs[x.0 as usize] = Some(v);
                return v;
            }
        };
        if self.b.func.dfg.value_type(v) == t {
            v
        } else {
            self.b.ins().bitcast(t, le(), v)
        }
    }

    /// Records the vector form `r` of instruction `i`; returns its `i128`.
    pub(super) fn vec_result(&mut self, i: usize, r: ir::Value) -> ir::Value {
        self.vecs[i] = Some(r);
        self.b.ins().bitcast(types::I128, le(), r)
    }

    /// Calls `f` (System V, `n` i64 arguments, a 128-bit result in
    /// rax:rdx); returns the result as an `i128`.
    fn call_pair(&mut self, f: usize, args: &[ir::Value]) -> ir::Value {
        let n = args.len();
        let sig = match self.sigs.get(&n) {
            Some(&s) => s,
            None => {
                let mut sig = Signature::new(CallConv::SystemV);
                for _ in 0..n {
                    sig.params.push(AbiParam::new(types::I64));
                }
                sig.returns.push(AbiParam::new(types::I64));
                sig.returns.push(AbiParam::new(types::I64));
                let s = self.b.import_signature(sig);
                self.sigs.insert(n, s);
                s
            }
        };
        let fv = self.b.ins().iconst(types::I64, f as i64);
        let call = self.b.ins().call_indirect(sig, fv, args);
        let r = self.b.inst_results(call).to_vec();
        self.b.ins().iconcat(r[0], r[1])
    }

    /// Calls `f` (System V, vector arguments and result in XMM
    /// registers).
    fn call_vec(&mut self, f: usize, args: &[ir::Value]) -> ir::Value {
        let key = 100 + args.len();
        let sig = match self.sigs.get(&key) {
            Some(&s) => s,
            None => {
                let mut sig = Signature::new(CallConv::SystemV);
                for _ in args {
                    sig.params.push(AbiParam::new(types::I8X16));
                }
                sig.returns.push(AbiParam::new(types::I8X16));
                let s = self.b.import_signature(sig);
                self.sigs.insert(key, s);
                s
            }
        };
        let fv = self.b.ins().iconst(types::I64, f as i64);
        let call = self.b.ins().call_indirect(sig, fv, args);
        self.b.inst_results(call)[0]
    }

    /// Finds the AESE (AESD) whose result only feeds an AESMC (AESIMC),
    /// directly or through a guest register the pair overwrites (`aese
    /// v0, k; aesmc v0, v0`): the pair is lowered as one AESENC (AESDEC)
    /// call, and the AESE and its dead register write are skipped.
    pub(super) fn find_fused(&mut self, block: &Block) {
        let n = block.insts.len();
        let mut uses = vec![0u32; n];
        for inst in &block.insts {
            inst.op.for_each_operand(|v| uses[v.0 as usize] += 1);
        }
        self.skip.clear();
        self.skip.resize(n, false);
        self.fuse_src.clear();
        self.fuse_src.resize(n, None);
        if !self.feat.aes {
            return;
        }
        let near = |a: u32, b: u32| a.abs_diff(b) < 16;
        // Whether instruction j may read or write the 16 bytes at `off`
        // (or make the state visible).
        let touches = |j: usize, off: u32| {
            matches!(block.insts[j].op, Op::SetState(o, _) | Op::GetState(o) if near(o, off))
                || super::needs_flush(&block.insts[j].op)
        };
        for k in 0..n {
            let Op::Vector(VecOp::Crypto(second), _, [g, ..]) = block.insts[k].op else {
                continue;
            };
            let first = match second {
                CryptoOp::AesMc => CryptoOp::AesE,
                CryptoOp::AesImc => CryptoOp::AesD,
                _ => continue,
            };
            let is_first = |v: Value| matches!(block.insts[v.0 as usize].op, Op::Vector(VecOp::Crypto(c), ..) if c == first);
            if uses[g.0 as usize] != 1 {
                continue;
            }
            if is_first(g) {
                self.skip[g.0 as usize] = true;
                self.fuse_src[k] = Some(g);
                continue;
            }
            // Through the state: g = GetState(off), the last access of
            // off before it is SetState(off, e) at s with e = AESE, and
            // off is written again at t > k with nothing between s and t
            // that could read the state (so the write at s is dead).
            let Op::GetState(off) = block.insts[g.0 as usize].op else {
                continue;
            };
            let Some(s) = (0..g.0 as usize).rev().find(|&j| touches(j, off)) else {
                continue;
            };
            let Op::SetState(o, e) = block.insts[s].op else {
                continue;
            };
            if o != off || !is_first(e) || uses[e.0 as usize] != 1 {
                continue;
            }
            let Some(t) = (s + 1..n).find(|&j| j != g.0 as usize && touches(j, off)) else {
                continue;
            };
            if t > k
                && matches!(block.insts[t].op, Op::SetState(o, v) if o == off && block.ty(v) == Type::I128)
            {
                self.skip[e.0 as usize] = true;
                self.skip[s] = true;
                self.fuse_src[k] = Some(e);
            }
        }
    }

    fn halves(&mut self, x: Value) -> [ir::Value; 2] {
        let v = self.v(x);
        let (lo, hi) = self.b.ins().isplit(v);
        [lo, hi]
    }

    /// `Op::Vector` (instruction `i` of `block`).
    pub(super) fn vector(&mut self, block: &Block, i: usize) -> ir::Value {
        let Op::Vector(op, e, args) = &block.insts[i].op else {
            unreachable!("caller checks the op")
        };
        let (op, e) = (*op, *e);
        if self.feat.sse41
            && self.feat.ssse3
            && let Some(r) = self.vec_native(block, op, e, args)
        {
            return self.vec_result(i, r);
        }
        let [a, b, _] = *args;
        let fused = |l: &Self, _: Value| match l.fuse_src[i].map(|e| &block.insts[e.0 as usize].op)
        {
            Some(Op::Vector(op, _, [x, y, _])) => Some((*op, *x, *y)),
            _ => None,
        };
        let host: Option<(usize, Value, Option<Value>)> = match op {
            _ if !self.feat.aes => None,
            VecOp::Crypto(CryptoOp::AesE) => Some((jv::aese as *const () as usize, a, Some(b))),
            VecOp::Crypto(CryptoOp::AesD) => Some((jv::aesd as *const () as usize, a, Some(b))),
            VecOp::Crypto(CryptoOp::AesMc) => match fused(self, a) {
                Some((_, x, y)) => Some((jv::aese_mc as *const () as usize, x, Some(y))),
                None => Some((jv::aesmc as *const () as usize, a, None)),
            },
            VecOp::Crypto(CryptoOp::AesImc) => match fused(self, a) {
                Some((_, x, y)) => Some((jv::aesd_imc as *const () as usize, x, Some(y))),
                None => Some((jv::aesimc as *const () as usize, a, None)),
            },
            _ => None,
        };
        let host = match host {
            None if op == VecOp::PMull && e == 64 && self.feat.pclmul => {
                Some((jv::pmull64 as *const () as usize, a, Some(b)))
            }
            h => h,
        };
        if let Some((f, x, y)) = host {
            let mut xs = vec![self.vec_of(x, types::I8X16)];
            if let Some(y) = y {
                xs.push(self.vec_of(y, types::I8X16));
            }
            let r = self.call_vec(f, &xs);
            return self.vec_result(i, r);
        }
        // The reference semantics, called directly.
        let Op::Vector(opref, ..) = &block.insts[i].op else {
            unreachable!()
        };
        let p = self
            .b
            .ins()
            .iconst(types::I64, opref as *const VecOp as usize as i64);
        let es = self.b.ins().iconst(types::I64, e as i64);
        let mut xs = vec![p, es];
        for (k, &x) in args.iter().enumerate() {
            if k < op.arity() {
                xs.extend(self.halves(x));
            } else {
                let z = self.b.ins().iconst(types::I64, 0);
                xs.extend([z, z]);
            }
        }
        self.call_pair(jv::vec_vals as *const () as usize, &xs)
    }

    /// A binary lane op on vectors of lane type `lane_ty(e)`.
    fn lane2(&mut self, op: VecOp, e: u8, x: ir::Value, y: ir::Value) -> Option<ir::Value> {
        let ins = self.b.ins();
        let small = matches!(e, 8 | 16);
        Some(match op {
            VecOp::Add => ins.iadd(x, y),
            VecOp::Sub => ins.isub(x, y),
            VecOp::Mul if e != 8 => ins.imul(x, y),
            VecOp::CmEq => ins.icmp(CC::Equal, x, y),
            VecOp::CmGt => ins.icmp(CC::SignedGreaterThan, x, y),
            VecOp::CmGe => ins.icmp(CC::SignedGreaterThanOrEqual, x, y),
            VecOp::CmHi => ins.icmp(CC::UnsignedGreaterThan, x, y),
            VecOp::CmHs => ins.icmp(CC::UnsignedGreaterThanOrEqual, x, y),
            VecOp::UMax if e != 64 => ins.umax(x, y),
            VecOp::UMin if e != 64 => ins.umin(x, y),
            VecOp::SMax if e != 64 => ins.smax(x, y),
            VecOp::SMin if e != 64 => ins.smin(x, y),
            VecOp::UQAdd if small => ins.uadd_sat(x, y),
            VecOp::UQSub if small => ins.usub_sat(x, y),
            VecOp::SQAdd if small => ins.sadd_sat(x, y),
            VecOp::SQSub if small => ins.ssub_sat(x, y),
            VecOp::URHAdd if small => ins.avg_round(x, y),
            _ => return None,
        })
    }

    /// `shuffle` by a byte map of [`byte_permutation`]; zero bytes come
    /// from a zero vector in place of `b` (unary ops only).
    fn permute(
        &mut self,
        perm: &[u8; 16],
        a: ir::Value,
        b: Option<ir::Value>,
    ) -> Option<ir::Value> {
        let zeros = perm.contains(&0x80);
        let b = match b {
            Some(b) if !zeros => b,
            Some(_) => return None,
            None => {
                let z = self.b.ins().iconst(types::I8, 0);
                self.b.ins().splat(types::I8X16, z)
            }
        };
        let mask: Vec<u8> = perm
            .iter()
            .map(|&s| if s == 0x80 { 16 } else { s })
            .collect();
        let imm = self.b.func.dfg.immediates.push(mask.into());
        Some(self.b.ins().shuffle(a, b, imm))
    }

    /// Cranelift SIMD for `op`, when it has the same lane operation.
    fn vec_native(
        &mut self,
        block: &Block,
        op: VecOp,
        e: u8,
        args: &[Value; 3],
    ) -> Option<ir::Value> {
        let t = lane_ty(e);
        let n = op.arity();
        let [a, b, c] = *args;
        // Every operand is an I128 (the verifier checks).
        let x = |l: &mut Self, v: Value, t: ir::Type| l.vec_of(v, t);
        match op {
            VecOp::And | VecOp::Or | VecOp::Xor | VecOp::Bic | VecOp::Orn | VecOp::Not => {
                let va = x(self, a, types::I64X2);
                if op == VecOp::Not {
                    return Some(self.b.ins().bnot(va));
                }
                let vb = x(self, b, types::I64X2);
                return Some(match op {
                    VecOp::And => self.b.ins().band(va, vb),
                    VecOp::Or => self.b.ins().bor(va, vb),
                    VecOp::Xor => self.b.ins().bxor(va, vb),
                    VecOp::Bic => self.b.ins().band_not(va, vb),
                    _ => {
                        let nb = self.b.ins().bnot(vb);
                        self.b.ins().bor(va, nb)
                    }
                });
            }
            VecOp::Bsl | VecOp::Eor3 | VecOp::Bcax => {
                let va = x(self, a, types::I64X2);
                let vb = x(self, b, types::I64X2);
                let vc = x(self, c, types::I64X2);
                return Some(match op {
                    VecOp::Bsl => self.b.ins().bitselect(vc, va, vb),
                    VecOp::Eor3 => {
                        let t = self.b.ins().bxor(va, vb);
                        self.b.ins().bxor(t, vc)
                    }
                    _ => {
                        let t = self.b.ins().band_not(vb, vc);
                        self.b.ins().bxor(va, t)
                    }
                });
            }
            _ => {}
        }
        if !matches!(e, 8 | 16 | 32 | 64) {
            return None;
        }
        match op {
            VecOp::Neg => {
                let va = x(self, a, t);
                Some(self.b.ins().ineg(va))
            }
            VecOp::CmTst => {
                let (va, vb) = (x(self, a, t), x(self, b, t));
                let m = self.b.ins().band(va, vb);
                let z = self.b.ins().iconst(scalar_ty(e), 0);
                let z = self.b.ins().splat(t, z);
                Some(self.b.ins().icmp(CC::NotEqual, m, z))
            }
            VecOp::UShl | VecOp::SShl => {
                let Op::Const128(k) = block.insts[b.0 as usize].op else {
                    return None;
                };
                let sh = uniform_shift(k.get(), e)?;
                let (esize, signed) = (e as i32, op == VecOp::SShl);
                let va = x(self, a, t);
                if sh >= esize || (sh <= -esize && !signed) {
                    let z = self.b.ins().iconst(scalar_ty(e), 0);
                    return Some(self.b.ins().splat(t, z));
                }
                if sh == 0 {
                    return Some(va);
                }
                let k = sh.unsigned_abs().min(esize as u32 - 1);
                let amt = self.b.ins().iconst(types::I32, k as i64);
                Some(match (sh < 0, signed) {
                    (false, _) => self.b.ins().ishl(va, amt),
                    (true, false) => self.b.ins().ushr(va, amt),
                    (true, true) => self.b.ins().sshr(va, amt),
                })
            }
            VecOp::Tbx if e == 8 => {
                let va = x(self, a, types::I8X16);
                let vb = x(self, b, types::I8X16);
                let vc = x(self, c, types::I8X16);
                let sw = self.b.ins().swizzle(vb, vc);
                let k = self.b.ins().iconst(types::I8, 16);
                let k = self.b.ins().splat(types::I8X16, k);
                let out = self.b.ins().icmp(CC::UnsignedGreaterThanOrEqual, vc, k);
                Some(self.b.ins().bitselect(out, va, sw))
            }
            _ => {
                if let Some(lop) = unpaired(op) {
                    let p1 = byte_permutation(VecOp::Uzp1, e)?;
                    let p2 = byte_permutation(VecOp::Uzp2, e)?;
                    // (Unused if the lane op has no lowering: dead code.)
                    let va = x(self, a, types::I8X16);
                    let vb = x(self, b, types::I8X16);
                    let u1 = self.permute(&p1, va, Some(vb))?;
                    let u2 = self.permute(&p2, va, Some(vb))?;
                    let u1 = self.b.ins().bitcast(t, le(), u1);
                    let u2 = self.b.ins().bitcast(t, le(), u2);
                    return self.lane2(lop, e, u1, u2);
                }
                if let Some(p) = byte_permutation(op, e) {
                    let va = x(self, a, types::I8X16);
                    let vb = if n > 1 {
                        Some(x(self, b, types::I8X16))
                    } else {
                        None
                    };
                    return self.permute(&p, va, vb);
                }
                if n == 2 {
                    let (va, vb) = (x(self, a, t), x(self, b, t));
                    return self.lane2(op, e, va, vb);
                }
                None
            }
        }
    }

    /// 128-bit integer ops on values that already have a vector form
    /// (the lifter's EXT, halves and concatenations of vector registers)
    /// and 128-bit loads, done in XMM registers; `None` for the others.
    pub(super) fn wide_vec(&mut self, block: &Block, i: usize) -> Option<ir::Value> {
        let inst = &block.insts[i];
        let has = |l: &Self, v: Value| l.vecs[v.0 as usize].is_some();
        let r = match inst.op {
            Op::And(a, b) | Op::Or(a, b) | Op::Xor(a, b)
                if inst.ty == Type::I128 && (has(self, a) || has(self, b)) =>
            {
                let x = self.vec_of(a, types::I64X2);
                let y = self.vec_of(b, types::I64X2);
                match inst.op {
                    Op::And(..) => self.b.ins().band(x, y),
                    Op::Or(..) => self.b.ins().bor(x, y),
                    _ => self.b.ins().bxor(x, y),
                }
            }
            Op::Not(a) if inst.ty == Type::I128 && has(self, a) => {
                let x = self.vec_of(a, types::I64X2);
                self.b.ins().bnot(x)
            }
            Op::Shl(a, n) | Op::LShr(a, n) if inst.ty == Type::I128 && has(self, a) => {
                let Op::Const(k) = block.insts[n.0 as usize].op else {
                    return None;
                };
                let k = k % 128;
                if k % 8 != 0 {
                    return None;
                }
                // A byte shift: a shuffle with a zero vector (index 16).
                let k = (k / 8) as usize;
                let left = matches!(inst.op, Op::Shl(..));
                let mut perm = [0x80u8; 16];
                for (j, p) in perm.iter_mut().enumerate() {
                    if left && j >= k {
                        *p = (j - k) as u8;
                    } else if !left && j + k < 16 {
                        *p = (j + k) as u8;
                    }
                }
                let x = self.vec_of(a, types::I8X16);
                self.permute(&perm, x, None)?
            }
            Op::ZExt(a) if inst.ty == Type::I128 && block.ty(a) == Type::I64 => {
                // Both forms; the unused one is dead code.
                let x = self.v(a);
                let v = self.b.ins().scalar_to_vector(types::I64X2, x);
                self.vecs[i] = Some(v);
                return Some(self.b.ins().uextend(types::I128, x));
            }
            Op::Trunc(a) if inst.ty == Type::I64 && has(self, a) => {
                let x = self.vec_of(a, types::I64X2);
                return Some(self.b.ins().extractlane(x, 0));
            }
            Op::Load(a) if inst.ty == Type::I128 => {
                self.mark_pc(false, self.plans[self.cur_idx].replay[i]);
                let addr = self.v(a);
                self.b
                    .ins()
                    .load(types::I8X16, super::guest_flags(), addr, 0)
            }
            _ => return None,
        };
        Some(self.vec_result(i, r))
    }

    /// `ExtractLane`, `InsertLane` and `Dup` as vector lane moves; `None`
    /// for the forms left to the interpreter's definition.
    pub(super) fn lane_move(&mut self, block: &Block, i: usize) -> Option<ir::Value> {
        let inst = &block.insts[i];
        let ct = super::cty(inst.ty);
        // Converts a scalar IR value to the lane type of `e`.
        let to_lane = |l: &mut Self, s: Value, e: u8| -> ir::Value {
            let v = l.v(s);
            let st = l.b.func.dfg.value_type(v);
            let lt = scalar_ty(e);
            if st.bits() > lt.bits() {
                l.b.ins().ireduce(lt, v)
            } else if st.bits() < lt.bits() {
                l.b.ins().uextend(lt, v)
            } else {
                v
            }
        };
        match inst.op {
            Op::ExtractLane(x, e, idx) if e <= 64 => {
                let v = self.vec_of(x, lane_ty(e));
                let r = self.b.ins().extractlane(v, idx);
                Some(if ct.bits() > e as u32 {
                    self.b.ins().uextend(ct, r)
                } else {
                    r
                })
            }
            Op::ExtractLane(x, _, _) => Some(self.v(x)),
            Op::InsertLane(x, s, e, idx) if e <= 64 => {
                let v = self.vec_of(x, lane_ty(e));
                let s = to_lane(self, s, e);
                let r = self.b.ins().insertlane(v, s, idx);
                Some(self.vec_result(i, r))
            }
            Op::InsertLane(_, s, _, _) if block.ty(s) == Type::I128 => Some(self.v(s)),
            Op::Dup(s, e) => {
                let s = to_lane(self, s, e);
                let r = self.b.ins().splat(lane_ty(e), s);
                Some(self.vec_result(i, r))
            }
            _ => None,
        }
    }
}
