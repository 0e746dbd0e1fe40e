"""The instructions gen_cases.py records, with their inputs."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'common'))
from qemu_oracle import d, s, vd, vs, vb, V0, V1, V2, V3, FD, FS

MEM = [0x8877665544332211, 0xf0debc9a78563412, 0x7fffffff80000000, 0x0123456789abcdef]
INT = dict(v=[V0, V1, V2, V3], x=[0x1122334455667788, 0xfedcba9876543210, 0x80, 0xffffffff], mem=MEM)
# X0/X1 equal to memory so compare-and-swaps succeed.
CASOK = dict(v=[V0, V1, V2, V3], x=[0x8877665544332211, 0xf0debc9a78563412, 0x5555, 0xaaaa], mem=MEM)
SAT = dict(v=[vb([0x80, 0x7f, 0xff, 0x01, 0x00, 0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x80]),
              vb([0x80, 0x7f, 0x01, 0xff, 0x40, 0x00, 0x00, 0x80, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x80]),
              vb([0x07, 0xf9, 0x01, 0x81, 0x20, 0xe0, 0x3f, 0x80, 0x08, 0xf8, 0x01, 0x00, 0x40, 0xc0, 0x02, 0xfe]),
              V3], x=[0, 0, 0, 0])
EST = dict(v=[vs(3.0, -0.3, 1e-39, float('inf')), vs(0.0, -0.0, 1e38, 5e-40), vd(3.0, -1e-310), vd(0.0, 1e300)],
           x=[0, 0, 0, 0])

CASES = [
    # LSE atomics (X5 points at MEM)
    ("ldadd x1, x2, [x5]", INT), ("ldadd w1, w2, [x5]", INT), ("ldaddal x0, x0, [x5]", INT),
    ("ldaddh w3, w2, [x5]", INT), ("ldaddlb w3, w2, [x5]", INT), ("stadd x1, [x5]", INT),
    ("ldclr x1, x2, [x5]", INT), ("ldclral w3, w2, [x5]", INT), ("ldeor x1, x2, [x5]", INT),
    ("ldeorh w1, w2, [x5]", INT), ("ldset x1, x2, [x5]", INT), ("stsetb w3, [x5]", INT),
    ("ldsmax x1, x2, [x5]", INT), ("ldsmax w1, w2, [x5]", INT), ("ldsmaxb w0, w2, [x5]", INT),
    ("ldsmin x1, x2, [x5]", INT), ("ldsminh w1, w2, [x5]", INT), ("ldumax x1, x2, [x5]", INT),
    ("ldumax w3, w2, [x5]", INT), ("ldumin x1, x2, [x5]", INT), ("lduminb w0, w2, [x5]", INT),
    ("swp x1, x2, [x5]", INT), ("swpal w1, w2, [x5]", INT), ("swpb w1, w1, [x5]", INT),
    ("swph w3, wzr, [x5]", INT), ("ldadd x1, x2, [x5, #0]", INT),
    ("cas x0, x2, [x5]", CASOK), ("cas x1, x2, [x5]", CASOK), ("casal w0, w2, [x5]", CASOK),
    ("casb w0, w3, [x5]", CASOK), ("cash w0, w3, [x5]", CASOK), ("casa w1, w3, [x5]", CASOK),
    ("casp x0, x1, x2, x3, [x5]", CASOK), ("caspal w0, w1, w2, w3, [x5]", CASOK),
    ("casp x2, x3, x0, x1, [x5]", CASOK),
    ("ldapr x1, [x5]", INT), ("ldapr w1, [x5]", INT), ("ldaprb w1, [x5]", INT), ("ldaprh w1, [x5]", INT),
    # CRC32
    ("crc32b w0, w1, w2", INT), ("crc32h w0, w1, w3", INT), ("crc32w w0, w0, w1", INT),
    ("crc32x w0, w3, x1", INT), ("crc32cb w0, w1, w2", INT), ("crc32ch w0, w1, w3", INT),
    ("crc32cw w0, w0, w1", INT), ("crc32cx w0, w3, x1", INT),
]

CRYPTO = dict(v=[vb(range(16)), vb([0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c]),
                 V2, V3], x=[0, 0, 0, 0])

CASES += [
    # halving, polynomial, saturating doubling multiplies
    ("uhadd v0.16b, v1.16b, v3.16b", INT), ("shadd v0.8h, v1.8h, v3.8h", INT), ("urhadd v0.4s, v1.4s, v3.4s", INT),
    ("srhadd v0.8b, v1.8b, v3.8b", INT), ("uhsub v0.16b, v1.16b, v3.16b", INT), ("shsub v0.4s, v1.4s, v3.4s", INT),
    ("pmul v0.16b, v1.16b, v3.16b", INT), ("pmul v0.8b, v2.8b, v3.8b", INT),
    ("sqdmulh v0.8h, v0.8h, v1.8h", SAT), ("sqdmulh v0.4s, v0.4s, v1.4s", SAT), ("sqrdmulh v0.8h, v1.8h, v2.8h", SAT),
    ("sqrdmulh v0.2s, v1.2s, v3.2s", INT), ("sqdmulh h0, h0, h1", SAT), ("sqrdmulh s0, s1, s2", SAT),
    ("sqdmull v0.4s, v0.4h, v1.4h", SAT), ("sqdmull2 v0.2d, v0.4s, v1.4s", SAT), ("sqdmlal v2.4s, v0.4h, v1.4h", SAT),
    ("sqdmlsl2 v2.4s, v0.8h, v1.8h", SAT), ("sqdmull s0, h0, h1", SAT), ("sqdmlal d2, s0, s1", SAT),
    ("sqdmlsl s2, h1, h3", INT),
    # saturating shifts
    ("sqshl v0.16b, v0.16b, v2.16b", SAT), ("uqshl v0.8h, v0.8h, v2.8h", SAT), ("sqrshl v0.4s, v0.4s, v2.4s", SAT),
    ("uqrshl v0.16b, v0.16b, v2.16b", SAT), ("sqshl v0.2d, v3.2d, v2.2d", SAT), ("uqshl d0, d3, d2", SAT),
    ("sqshl b0, b0, b2", SAT), ("sqrshl h0, h1, h2", SAT), ("sqshl v0.8b, v0.8b, v2.8b", SAT),
    ("sqshl v0.16b, v0.16b, #3", SAT), ("uqshl v0.8h, v1.8h, #9", SAT), ("sqshlu v0.4s, v0.4s, #5", SAT),
    ("sqshlu v0.16b, v1.16b, #1", SAT), ("sqshl d0, d3, #7", SAT), ("uqshl s0, s1, #31", SAT), ("sqshlu b0, b0, #2", SAT),
    ("sqshrn v0.8b, v0.8h, #3", SAT), ("sqshrn2 v0.16b, v3.8h, #1", SAT), ("uqshrn v0.4h, v1.4s, #7", SAT),
    ("sqrshrn v0.2s, v3.2d, #20", SAT), ("uqrshrn2 v0.8h, v3.4s, #16", SAT), ("sqshrun v0.8b, v0.8h, #2", SAT),
    ("sqrshrun2 v0.4s, v3.2d, #31", SAT), ("sqshrn b0, h0, #1", SAT), ("uqrshrn s0, d3, #3", SAT),
    ("sqshrun h0, s3, #4", SAT),
    # saturating narrow, abs/neg, accumulate
    ("sqxtn v0.8b, v0.8h", SAT), ("sqxtn2 v0.8h, v3.4s", SAT), ("uqxtn v0.2s, v3.2d", SAT), ("sqxtun v0.4h, v0.4s", SAT),
    ("sqxtun2 v0.16b, v3.8h", SAT), ("sqxtn b0, h0", SAT), ("uqxtn s0, d3", SAT), ("sqxtun h0, s0", SAT),
    ("sqabs v0.16b, v0.16b", SAT), ("sqneg v0.8h, v0.8h", SAT), ("sqabs v0.2d, v3.2d", SAT), ("sqneg b0, b0", SAT),
    ("sqabs s0, s0", SAT), ("sqneg v0.8b, v0.8b", SAT),
    ("suqadd v0.16b, v1.16b", SAT), ("usqadd v0.8h, v2.8h", SAT), ("suqadd b0, b1", SAT), ("usqadd d0, d2", SAT),
    ("suqadd v0.2s, v2.2s", SAT),
    # CLZ, CLS, RBIT, pairwise long
    ("clz v0.16b, v3.16b", INT), ("clz v0.4s, v1.4s", INT), ("cls v0.8h, v3.8h", INT), ("cls v0.8b, v1.8b", INT),
    ("rbit v0.16b, v3.16b", INT), ("rbit v0.8b, v1.8b", INT),
    ("uaddlp v0.8h, v3.16b", INT), ("saddlp v0.2d, v3.4s", INT), ("uadalp v0.4s, v3.8h", INT),
    ("sadalp v0.4h, v3.8b", INT), ("saddlp v0.1d, v1.2s", INT),
    ("raddhn v0.8b, v1.8h, v3.8h", INT), ("rsubhn2 v0.8h, v1.4s, v3.4s", INT),
    # by element
    ("mul v0.8h, v1.8h, v3.h[5]", INT), ("mul v0.2s, v1.2s, v3.s[3]", INT), ("mla v0.4s, v1.4s, v3.s[1]", INT),
    ("mls v0.4h, v1.4h, v15.h[7]", INT), ("smull v0.4s, v1.4h, v3.h[2]", INT), ("umull2 v0.2d, v1.4s, v3.s[3]", INT),
    ("smlal2 v0.4s, v1.8h, v3.h[0]", INT), ("umlsl v0.2d, v1.2s, v3.s[2]", INT),
    ("sqdmulh v0.8h, v0.8h, v1.h[1]", SAT), ("sqrdmulh v0.4s, v1.4s, v0.s[3]", SAT), ("sqdmull v0.4s, v0.4h, v0.h[0]", SAT),
    ("sqdmlal2 v2.2d, v0.4s, v1.s[3]", SAT), ("sqdmlsl v2.4s, v1.4h, v0.h[7]", SAT),
    ("sqdmulh h0, h1, v0.h[0]", SAT), ("sqrdmulh s0, s0, v1.s[2]", SAT), ("sqdmull d0, s0, v0.s[3]", SAT),
    ("sqdmlal s2, h0, v0.h[0]", SAT),
    ("fmul v0.4s, v1.4s, v2.s[1]", FS), ("fmul v0.2d, v0.2d, v1.d[1]", FD), ("fmla v0.4s, v1.4s, v3.s[3]", FS),
    ("fmls v0.2s, v1.2s, v2.s[2]", FS), ("fmla v0.2d, v1.2d, v2.d[0]", FD), ("fmulx v0.4s, v3.4s, v1.s[0]", FS),
    ("fmul s0, s1, v2.s[3]", FS), ("fmla d0, d1, v2.d[1]", FD), ("fmls s0, s3, v1.s[1]", FS), ("fmulx d0, d1, v3.d[1]", FD),
    # FMULX, reciprocal steps and estimates
    ("fmulx v0.4s, v0.4s, v3.4s", FS), ("fmulx d0, d3, d1", FD), ("fmulx s0, s0, s1", FS),
    ("frecps v0.4s, v1.4s, v2.4s", FS), ("frecps d0, d0, d1", FD), ("frsqrts v0.2d, v0.2d, v1.2d", FD),
    ("frsqrts s0, s1, s2", FS), ("frecps v0.4s, v3.4s, v0.4s", FS),
    ("frecpe v0.4s, v0.4s", EST), ("frecpe v0.4s, v1.4s", EST), ("frecpe v0.2d, v2.2d", EST), ("frecpe v0.2d, v3.2d", EST),
    ("frecpe s0, s1", FS), ("frecpe d0, d2", FD),
    ("frsqrte v0.4s, v0.4s", EST), ("frsqrte v0.4s, v1.4s", EST), ("frsqrte v0.2d, v2.2d", EST),
    ("frsqrte v0.2d, v3.2d", EST), ("frsqrte v0.4s, v2.4s", FS), ("frsqrte d0, d2", FD), ("frsqrte s0, s2", FS),
    ("frecpx s0, s1", FS), ("frecpx d0, d2", FD), ("frecpx s0, s2", EST), ("frecpx d0, d3", FD),
    ("urecpe v0.4s, v3.4s", INT), ("urecpe v0.2s, v1.2s", INT), ("ursqrte v0.4s, v3.4s", INT),
    ("ursqrte v0.4s, v0.4s", INT),
    ("fcvtxn v0.2s, v0.2d", FD), ("fcvtxn2 v0.4s, v1.2d", FD), ("fcvtxn s0, d2", FD), ("fcvtxn s0, d1", FD),
    # crypto
    ("aese v0.16b, v1.16b", CRYPTO), ("aesd v0.16b, v1.16b", CRYPTO), ("aesmc v0.16b, v1.16b", CRYPTO),
    ("aesimc v0.16b, v3.16b", CRYPTO),
    ("pmull v0.8h, v1.8b, v3.8b", INT), ("pmull2 v0.8h, v1.16b, v3.16b", INT), ("pmull v0.1q, v1.1d, v3.1d", INT),
    ("pmull2 v0.1q, v1.2d, v3.2d", INT),
    ("sha1c q0, s1, v2.4s", INT), ("sha1p q0, s1, v2.4s", INT), ("sha1m q0, s3, v2.4s", INT),
    ("sha1h s0, s3", INT), ("sha1su0 v0.4s, v1.4s, v2.4s", INT), ("sha1su1 v0.4s, v3.4s", INT),
    ("sha256h q0, q1, v2.4s", INT), ("sha256h2 q0, q1, v2.4s", INT), ("sha256su0 v0.4s, v3.4s", INT),
    ("sha256su1 v0.4s, v1.4s, v3.4s", INT),
    ("sha512h q0, q1, v2.2d", INT), ("sha512h2 q0, q1, v3.2d", INT), ("sha512su0 v0.2d, v3.2d", INT),
    ("sha512su1 v0.2d, v1.2d, v3.2d", INT),
    ("eor3 v0.16b, v1.16b, v2.16b, v3.16b", INT), ("bcax v0.16b, v1.16b, v2.16b, v3.16b", INT),
    ("rax1 v0.2d, v1.2d, v3.2d", INT), ("xar v0.2d, v1.2d, v3.2d, #13", INT), ("xar v0.2d, v1.2d, v3.2d, #0", INT),
    # dot product, RDM
    ("sdot v0.4s, v1.16b, v3.16b", INT), ("udot v0.2s, v1.8b, v3.8b", INT), ("sdot v0.4s, v1.16b, v3.4b[3]", INT),
    ("udot v0.4s, v3.16b, v1.4b[1]", INT),
    ("sqrdmlah v0.8h, v1.8h, v2.8h", SAT), ("sqrdmlsh v0.4s, v1.4s, v2.4s", SAT), ("sqrdmlah v0.4h, v0.4h, v1.h[3]", SAT),
    ("sqrdmlsh v0.2s, v0.2s, v1.s[1]", SAT), ("sqrdmlah h0, h1, h2", SAT), ("sqrdmlsh s0, s0, v1.s[0]", SAT),
]

JS = dict(v=[vd(-2.0, 0), vd(1.5, 0), vd(3e9, 0), vd(-0.0, 0)], x=[0, 0, 0, 0])
JS2 = dict(v=[vd(float('nan'), 0), vd(2.0 ** 80, 0), vd(2.0 ** 32 + 5, 0), vd(-2147483648.75, 0)], x=[0, 0, 0, 0])
JS3 = dict(v=[vd(-2147483648.0, 0), vd(2147483647.0, 0), vd(5e-324, 0), vd(float('-inf'), 0)], x=[0, 0, 0, 0])
CASES += [("fjcvtzs w%d, d%d" % (k, k), inp) for inp in (JS, JS2, JS3) for k in range(4)]
CASES += [("fjcvtzs w0, d2", JS3, 1 << 24)]

CASES += [
    ("fcadd v0.4s, v1.4s, v2.4s, #90", FS), ("fcadd v0.2d, v1.2d, v2.2d, #270", FD), ("fcadd v0.2s, v3.2s, v1.2s, #270", FS),
    ("fcmla v0.4s, v1.4s, v2.4s, #0", FS), ("fcmla v0.4s, v1.4s, v2.4s, #90", FS), ("fcmla v0.2d, v1.2d, v2.2d, #180", FD),
    ("fcmla v0.2s, v1.2s, v3.2s, #270", FS), ("fcmla v3.2d, v0.2d, v1.2d, #90", FD),
]
CASES += [("fcmla v0.4s, v1.4s, v2.s[1], #90", FS), ("fcmla v0.4s, v3.4s, v1.s[0], #180", FS),
          ("fcmla v0.4s, v1.4s, v2.s[0], #0", FS), ("fcmla v0.4s, v1.4s, v2.s[1], #270", FS)]
