#!/usr/bin/env python3
"""Generates cases.rs: SIMD&FP instruction results recorded under
qemu-aarch64, the oracle for tests/simd_qemu.rs.

Each case runs one instruction on V0-V3, X0-X3, NZCV and FPCR loaded from
the case's inputs and records V0-V3, X0-X3, NZCV and FPSR afterwards (the
harness is ../common/qemu_oracle.py). Run from this directory:
    python3 gen_cases.py > cases.rs
"""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'common'))
from qemu_oracle import d, vd, vs, vb, V0, V1, V2, V3, FD, FS, NZCV_IN, run, hexes, generate

INT = dict(v=[V0, V1, V2, V3], x=[0x1122334455667788, 0xfedcba9876543210, 0x80, 0xffffffff])
SNAN = dict(v=[0x7ff0000000000123, 0x7ff8000000000456, d(1.0), d(0.0)], x=[0, 0, 0, 0])
INF = dict(v=[d(float('inf')), d(0.0), d(-1.0), d(float('-inf'))], x=[0, 0, 0, 0])

CASES = [
    # string-function instructions
    ("cmeq v0.16b, v0.16b, #0", INT), ("cmeq v2.16b, v1.16b, v0.16b", INT),
    ("cmeq v0.8b, v1.8b, v0.8b", INT), ("cmhs v2.16b, v3.16b, v1.16b", INT),
    ("cmhi v2.8h, v3.8h, v1.8h", INT), ("cmgt v2.4s, v3.4s, v1.4s", INT),
    ("cmge v2.2d, v3.2d, v1.2d", INT), ("cmtst v2.16b, v3.16b, v1.16b", INT),
    ("cmge d0, d1, #0", INT), ("cmlt v0.16b, v3.16b, #0", INT), ("cmle v0.8h, v3.8h, #0", INT),
    ("cmgt v0.4s, v3.4s, #0", INT), ("cmeq d0, d1, d2", INT),
    ("umaxp v0.16b, v0.16b, v1.16b", INT), ("umaxp v0.8b, v2.8b, v1.8b", INT),
    ("uminp v0.16b, v1.16b, v2.16b", INT), ("smaxp v0.4s, v3.4s, v1.4s", INT),
    ("addp v5.16b, v2.16b, v2.16b", INT), ("addp v0.2s, v1.2s, v3.2s", INT), ("addp d0, v3.2d", INT),
    ("shrn v3.8b, v2.8h, #4", INT), ("shrn2 v3.16b, v2.8h, #4", INT), ("rshrn v3.4h, v1.4s, #9", INT),
    ("addhn v2.8b, v1.8h, v0.8h", INT), ("addhn2 v2.16b, v1.8h, v0.8h", INT),
    ("ext v0.16b, v2.16b, v3.16b, #15", INT), ("ext v0.16b, v2.16b, v3.16b, #0", INT),
    ("ext v0.8b, v2.8b, v3.8b, #3", INT),
    ("dup v0.16b, w1", INT), ("dup v1.2d, x0", INT), ("dup v0.4s, w3", INT), ("dup v1.8h, v3.h[5]", INT),
    ("dup v1.2d, v3.d[1]", INT), ("dup v2.2s, v3.s[3]", INT), ("mov b0, v3.b[9]", INT),
    ("mov v0.d[1], x1", INT), ("mov v0.s[1], w2", INT), ("mov v0.b[15], w1", INT),
    ("mov v0.d[1], v1.d[0]", INT), ("mov v0.s[1], v1.s[3]", INT),
    ("umov w0, v3.b[1]", INT), ("umov w0, v3.h[7]", INT), ("mov w1, v0.s[2]", INT), ("mov x0, v3.d[1]", INT),
    ("smov w0, v3.b[0]", INT), ("smov x0, v3.h[6]", INT), ("smov x0, v3.s[2]", INT),
    ("movi v4.16b, #0x33", INT), ("movi d0, #0xffffffff00000000", INT), ("movi v0.4s, #0x80, lsl #16", INT),
    ("movi v0.2s, #0x7f, msl #16", INT), ("movi v0.8h, #0x12, lsl #8", INT), ("movi v0.2d, #0xff00ff00ff00ff00", INT),
    ("mvni v0.4s, #0x0", INT), ("mvni v0.2s, #0x80, lsl #16", INT), ("mvni v1.2s, #0x7f, msl #16", INT),
    ("mvni v1.8h, #0x7f", INT),
    ("bic v2.8h, #0xf, lsl #8", INT), ("bic v3.8h, #0xf0", INT), ("orr v3.4s, #0x1, lsl #24", INT),
    ("fmov v0.4s, #1.0", INT), ("fmov v0.2d, #-0.5", INT), ("fmov v0.2s, #31.0", INT),
    ("and v1.16b, v1.16b, v0.16b", INT), ("bic v0.16b, v2.16b, v0.16b", INT), ("orr v0.16b, v0.16b, v3.16b", INT),
    ("orn v0.16b, v3.16b, v0.16b", INT), ("eor v0.8b, v0.8b, v1.8b", INT), ("mvn v1.16b, v1.16b", INT),
    ("bit v2.16b, v3.16b, v0.16b", INT), ("bif v2.16b, v3.16b, v0.16b", INT), ("bsl v2.16b, v3.16b, v0.16b", INT),
    ("mov v0.16b, v1.16b", INT),
    ("add v0.2d, v0.2d, v1.2d", INT), ("add v0.2s, v0.2s, v1.2s", INT), ("sub v0.2s, v0.2s, v3.2s", INT),
    ("sub v0.16b, v0.16b, v3.16b", INT), ("mul v0.8h, v1.8h, v3.8h", INT), ("mla v0.4s, v1.4s, v3.4s", INT),
    ("mls v0.8b, v1.8b, v3.8b", INT),
    ("xtn v0.2s, v1.2d", INT), ("xtn2 v0.8h, v1.4s", INT), ("xtn v0.8b, v3.8h", INT),
    ("sxtl v0.2d, v3.2s", INT), ("uxtl v0.2d, v3.2s", INT), ("uxtl2 v0.8h, v3.16b", INT),
    ("sshll v0.4s, v3.4h, #3", INT), ("ushll2 v0.2d, v3.4s, #7", INT),
    ("uaddw v0.2d, v0.2d, v1.2s", INT), ("saddw2 v0.4s, v0.4s, v3.8h", INT), ("uaddl v0.8h, v1.8b, v3.8b", INT),
    ("usubl2 v0.4s, v1.8h, v3.8h", INT), ("umull v0.2d, v1.2s, v3.2s", INT), ("smull v0.4s, v1.4h, v3.4h", INT),
    ("umlal v0.8h, v1.8b, v3.8b", INT), ("sabdl v0.8h, v1.8b, v3.8b", INT),
    ("ushr d1, d0, #32", INT), ("ushr v1.16b, v3.16b, #3", INT), ("sshr v1.8h, v3.8h, #15", INT),
    ("sshr v1.2d, v3.2d, #64", INT), ("ushr v1.4s, v3.4s, #32", INT), ("usra v1.4s, v3.4s, #4", INT),
    ("ssra v1.16b, v3.16b, #1", INT), ("urshr v1.8h, v3.8h, #4", INT), ("srshr v1.4s, v3.4s, #7", INT),
    ("shl v0.2d, v0.2d, #2", INT), ("shl v0.16b, v3.16b, #7", INT), ("shl d0, d3, #63", INT),
    ("sli v0.8h, v3.8h, #4", INT), ("sri v0.4s, v3.4s, #8", INT), ("sri d0, d3, #64", INT),
    ("sshr d0, d1, #3", INT), ("usra d0, d1, #63", INT),
    ("ushl v0.16b, v3.16b, v2.16b", INT), ("sshl v0.8h, v3.8h, v1.8h", INT), ("urshl v0.4s, v3.4s, v1.4s", INT),
    ("ushl d0, d3, d1", INT),
    ("rev64 v0.2s, v0.2s", INT), ("rev64 v0.16b, v3.16b", INT), ("rev32 v1.8b, v1.8b", INT),
    ("rev32 v1.8h, v3.8h", INT), ("rev16 v1.16b, v3.16b", INT),
    ("cnt v0.8b, v3.8b", INT), ("cnt v0.16b, v1.16b", INT),
    ("addv b0, v0.8b", INT), ("addv h0, v3.8h", INT), ("addv s0, v3.4s", INT), ("umaxv b0, v3.16b", INT),
    ("uminv b0, v3.8b", INT), ("smaxv h0, v3.4h", INT), ("sminv s0, v3.4s", INT), ("uaddlv h0, v3.16b", INT),
    ("uaddlv s0, v3.8h", INT), ("saddlv h0, v3.8b", INT), ("uaddlv d0, v3.4s", INT),
    ("uzp1 v2.4s, v2.4s, v3.4s", INT), ("uzp2 v2.8h, v1.8h, v3.8h", INT), ("uzp1 v2.8b, v1.8b, v3.8b", INT),
    ("uzp2 v2.4h, v1.4h, v3.4h", INT),
    ("zip1 v2.16b, v1.16b, v3.16b", INT), ("zip2 v2.4s, v1.4s, v3.4s", INT), ("zip1 v2.8b, v1.8b, v3.8b", INT),
    ("zip2 v2.4h, v1.4h, v3.4h", INT), ("trn1 v2.8h, v1.8h, v3.8h", INT), ("trn2 v2.16b, v1.16b, v3.16b", INT),
    ("trn2 v2.2s, v1.2s, v3.2s", INT),
    ("tbl v0.16b, {v3.16b}, v2.16b", INT), ("tbl v0.8b, {v1.16b, v2.16b}, v0.8b", INT),
    ("tbx v0.16b, {v2.16b, v3.16b}, v1.16b", INT), ("tbl v0.16b, {v1.16b, v2.16b, v3.16b}, v2.16b", INT),
    ("abs v0.16b, v3.16b", INT), ("neg v0.4s, v3.4s", INT), ("neg d0, d3", INT), ("abs d0, d1", INT),
    ("uabd v0.16b, v3.16b, v1.16b", INT), ("sabd v0.8h, v3.8h, v1.8h", INT), ("uaba v0.4s, v3.4s, v1.4s", INT),
    ("umax v0.16b, v3.16b, v1.16b", INT), ("smin v0.8h, v3.8h, v1.8h", INT),
    ("uqadd v0.16b, v3.16b, v1.16b", INT), ("sqadd v0.8h, v3.8h, v1.8h", INT), ("uqsub v0.16b, v1.16b, v3.16b", INT),
    ("sqsub v0.4s, v3.4s, v1.4s", INT), ("uqadd b0, b3, b1", INT), ("sqadd d0, d1, d1", INT),
    ("shll v0.8h, v3.8b, #8", INT),
    # scalar FP, double
    ("fadd d0, d0, d1", FD), ("fsub d0, d1, d2", FD), ("fmul d0, d0, d1", FD), ("fdiv d0, d0, d1", FD),
    ("fdiv d0, d1, d3", FD), ("fnmul d0, d0, d1", FD), ("fmul d0, d2, d2", FD),
    ("fmax d0, d0, d1", FD), ("fmin d0, d0, d1", FD), ("fmax d0, d0, d3", FD), ("fmaxnm d0, d0, d3", FD),
    ("fminnm d0, d3, d1", FD), ("fmin d0, d3, d1", FD),
    ("fabs d2, d1", FD), ("fneg d1, d0", FD), ("fsqrt d0, d2", FD), ("fsqrt d0, d1", FD), ("fmov d0, d1", FD),
    ("fmadd d0, d1, d0, d2", FD), ("fmsub d0, d1, d0, d2", FD), ("fnmadd d0, d1, d0, d2", FD),
    ("fnmsub d0, d1, d0, d2", FD),
    ("fcmp d0, d1", FD), ("fcmp d1, d0", FD), ("fcmp d0, d0", FD), ("fcmp d3, d0", FD), ("fcmpe d3, d0", FD),
    ("fcmp d1, #0.0", FD), ("fcmpe d0, #0.0", FD),
    ("fccmp d0, d1, #4, eq", FD), ("fccmp d0, d1, #4, ne", FD), ("fccmpe d3, d1, #0, ne", FD),
    ("fcsel d0, d1, d0, eq", FD), ("fcsel d0, d1, d0, ne", FD), ("fcsel s0, s1, s2, eq", FD),
    ("fcvt s0, d2", FD), ("fcvt s0, d0", FD), ("fcvt d0, s1", FD), ("fcvt h0, d0", FD), ("fcvt d0, h1", FD),
    ("fcvt s0, d3", FD),
    ("fcvtzs w2, d1", FD), ("fcvtzs x5, d0", FD), ("fcvtzs w0, d2", FD), ("fcvtzu w0, d1", FD),
    ("fcvtzu x0, d0", FD), ("fcvtzs x0, d3", FD), ("fcvtzs d0, d1", FD), ("fcvtzu d0, d0", FD),
    ("fcvtns x0, d2", FD), ("fcvtms x0, d1", FD), ("fcvtps x0, d1", FD), ("fcvtas x0, d2", FD),
    ("fcvtau w0, d2", FD), ("fcvtnu x0, d1", FD),
    ("fcvtzs w0, d0, #4", FD), ("fcvtzu x0, d2, #10", FD),
    ("scvtf d0, w1", FD), ("scvtf d0, x1", FD), ("ucvtf d0, w1", FD), ("ucvtf d0, x1", FD),
    ("scvtf d0, d0", FD), ("ucvtf d0, d1", FD), ("scvtf s0, x1", FD), ("ucvtf s0, x3", FD),
    ("scvtf d0, w1, #3", FD), ("ucvtf s0, x0, #1", FD),
    ("frintn d0, d2", FD), ("frinta d0, d2", FD), ("frintm d0, d1", FD), ("frintp d0, d1", FD),
    ("frintz d0, d1", FD), ("frintx d0, d1", FD), ("frinti d0, d0", FD),
    ("fmov d0, x1", FD), ("fmov x0, d1", FD), ("fmov s0, w3", FD), ("fmov w0, s1", FD),
    ("fmov v0.d[1], x1", FD), ("fmov x0, v1.d[1]", FD),
    ("fmov d0, #1.0", FD), ("fmov d0, #-1.0", FD), ("fmov s0, #0.125", FD), ("fmov d0, #31.0", FD),
    # scalar FP, single
    ("fadd s0, s0, s1", FS), ("fsub s0, s1, s2", FS), ("fmul s0, s0, s1", FS), ("fdiv s0, s1, s1", FS),
    ("fdiv s0, s0, s3", FS), ("fmul s0, s3, s3", FS), 
    ("fneg s1, s0", FS), ("fabs s1, s1", FS), ("fsqrt s0, s2", FS), ("fmadd s0, s0, s1, s2", FS),
    ("fcvtzs w0, s1", FS), ("fcvtzu w0, s0", FS), ("scvtf s0, w1", FS), ("fcmp s0, s1", FS),
    ("fcmpe s3, #0.0", FS), ("frintn s0, s2", FS),
    # NaN and infinity edge cases
    ("fadd d0, d1, d0", SNAN), ("fadd d0, d2, d1", SNAN), ("fmul d0, d1, d2", SNAN), ("fcmp d1, d2", SNAN),
    ("fcmp d0, d2", SNAN), ("fcmpe d1, d2", SNAN), ("fcvt s0, d0", SNAN), ("fcvtzs x0, d1", SNAN),
    ("fmaxnm d0, d1, d2", SNAN), ("fmaxnm d0, d0, d2", SNAN), ("fmin d0, d1, d2", SNAN),
    ("fmadd d0, d0, d2, d3", SNAN), ("frintx d0, d1", SNAN),
    ("fsub d0, d0, d0", INF), ("fmul d0, d0, d1", INF), ("fdiv d0, d2, d1", INF), ("fsqrt d0, d2", INF),
    ("fcvtzs w0, d0", INF), ("fcvtzu x0, d3", INF), ("fmadd d0, d0, d1, d2", INF), ("fcvt s0, d0", INF),
    # vector FP
    ("fadd v0.2d, v0.2d, v1.2d", FD), ("fmul v0.4s, v0.4s, v1.4s", FS), ("fsub v0.2s, v0.2s, v1.2s", FS),
    ("fdiv v0.2d, v1.2d, v0.2d", FD), ("fmla v0.4s, v1.4s, v2.4s", FS), ("fmls v0.2d, v1.2d, v2.2d", FD),
    ("fmax v0.4s, v1.4s, v2.4s", FS), ("fminnm v0.2d, v3.2d, v1.2d", FD), ("fabd v0.4s, v1.4s, v2.4s", FS),
    ("fcmeq v0.4s, v2.4s, v1.4s", FS), ("fcmge v0.2d, v0.2d, v1.2d", FD), ("fcmgt v0.4s, v1.4s, v2.4s", FS),
    ("facgt v0.4s, v1.4s, v2.4s", FS), ("faddp v0.4s, v1.4s, v2.4s", FS), ("faddp d0, v1.2d", FD),
    ("fmaxp v0.2d, v0.2d, v1.2d", FD), ("fmaxnmv s0, v1.4s", FS), ("fminv s0, v2.4s", FS),
    ("fabs v0.2d, v0.2d", FD), ("fneg v0.4s, v1.4s", FS), ("fsqrt v0.4s, v2.4s", FS),
    ("fcvtzs v0.4s, v1.4s", FS), ("fcvtzu v0.2d, v0.2d", FD), ("scvtf v0.2d, v1.2d", INT),
    ("ucvtf v0.4s, v3.4s", INT), ("scvtf v0.4s, v3.4s, #8", INT), ("fcvtzs v0.2d, v0.2d, #3", FD),
    ("frintm v0.4s, v1.4s", FS), ("frinta v0.2d, v2.2d", FD), ("fcmlt v0.4s, v1.4s, #0.0", FS),
    ("fcmeq v0.2d, v3.2d, #0.0", FD), ("fcvtn v0.2s, v1.2d", FD), ("fcvtn2 v0.4s, v1.2d", FD),
    ("fcvtl v0.2d, v1.2s", FS), ("fcvtl2 v0.2d, v1.4s", FS), ("fcvtns v0.4s, v2.4s", FS),
    ("fcmge s0, s1, s2", FS), ("fcmeq d0, d1, d1", FD), ("fcmgt d0, d1, #0.0", FD), ("scvtf d0, d1, #2", FD),
    ("fabd d0, d0, d1", FD),
]
FPCR_CASES = [
    # (asm, inputs, fpcr)
    ("fadd d0, d0, d1", SNAN, 1 << 25),  # DN
    ("frinti d0, d2", FD, 2 << 22),  # RM
    ("frintx d0, d0", FD, 1 << 22),  # RP
    ("scvtf s0, x1", FD, 3 << 22),  # RZ
    ("fdiv d0, d0, d1", FD, 1 << 22),
    ("fsqrt s0, s0", FS, 2 << 22),
]

def render(asm, inp, fpcr):
    r = run(asm, inp, fpcr)
    return ("    Case { asm: %s, insn: %#010x, v_in: [%s], x_in: [%s], nzcv_in: %#x, fpcr: %#x,\n"
            "        v_out: [%s], x_out: [%s], nzcv_out: %#x, fpsr_out: %#x },") % (
        json.dumps(asm), r['word'], hexes(r['v_in']), hexes(inp['x']), NZCV_IN, fpcr,
        hexes(r['v_out']), hexes(r['x_out']), r['nzcv_out'], r['fpsr_out'])

generate([(a, i, 0) for a, i in CASES] + FPCR_CASES, render)
