"""The instructions gen_cases.py records, with their inputs."""
import struct

def d(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]
def s(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]
def vd(a, b=0.0):
    return d(a) | (d(b) << 64)
def vs(*xs):
    r = 0
    for k, x in enumerate(xs):
        r |= s(x) << (32 * k)
    return r
def vb(bs):
    return int.from_bytes(bytes(bs), 'little')

V0 = vb([0x00, 0x41, 0x62, 0x00, 0xff, 0x80, 0x7f, 0x01, 0x10, 0x20, 0x30, 0x00, 0xfe, 0x05, 0x99, 0x42])
V1 = vb([0x01, 0x41, 0x00, 0x63, 0x7f, 0x80, 0x81, 0xff, 0x10, 0x21, 0x2f, 0xee, 0x00, 0x06, 0x11, 0x41])
V2 = vb([0x03, 0x00, 0x0f, 0x1f, 0x10, 0x11, 0x05, 0x40, 0x02, 0x0e, 0x1e, 0x22, 0x30, 0x07, 0x01, 0x09])
V3 = vb([0xf0, 0x0f, 0xaa, 0x55, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x00, 0xff, 0x00, 0xff])
MEM = [0x8877665544332211, 0xf0debc9a78563412, 0x7fffffff80000000, 0x0123456789abcdef]
INT = dict(v=[V0, V1, V2, V3], x=[0x1122334455667788, 0xfedcba9876543210, 0x80, 0xffffffff], mem=MEM)
# X0/X1 equal to memory so compare-and-swaps succeed.
CASOK = dict(v=[V0, V1, V2, V3], x=[0x8877665544332211, 0xf0debc9a78563412, 0x5555, 0xaaaa], mem=MEM)
SAT = dict(v=[vb([0x80, 0x7f, 0xff, 0x01, 0x00, 0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x80]),
              vb([0x80, 0x7f, 0x01, 0xff, 0x40, 0x00, 0x00, 0x80, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x80]),
              vb([0x07, 0xf9, 0x01, 0x81, 0x20, 0xe0, 0x3f, 0x80, 0x08, 0xf8, 0x01, 0x00, 0x40, 0xc0, 0x02, 0xfe]),
              V3], x=[0, 0, 0, 0])
FS = dict(v=[vs(1.5, -2.0, 0.1, 3.0), vs(-0.75, 3.25, 0.2, -1e30), vs(2.5, 2.5, -2.5, 1e-40), vs(0.0, -0.0, 7.0, 1e38)],
          x=[7, (-9) & (2**64 - 1), 0x7fffffff, 1 << 63])
FD = dict(v=[vd(1.5, -2.0), vd(-0.75, 3.25), vd(2.5, 1e300), vd(float('nan'), -0.0)],
          x=[7, (-9) & (2**64 - 1), 0xffffffff, 1 << 63])
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
