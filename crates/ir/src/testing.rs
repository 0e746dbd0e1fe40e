//! Values for tests of integer ops across the tiers.

/// Integer operands at the edges of every width (zero, one, the sign and
/// carry boundaries of 8, 32 and 64 bits, all ones): where flags, shifts
/// and extensions go wrong.
pub const EDGES: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX - 1,
    u64::MAX,
];
