//! Value types of the IR.

use core::fmt;

/// The type of an IR value. Integers of every width a guest register or
/// memory access can have; `I128` also carries SIMD&FP vectors. Floating
/// point values are carried as their bit patterns in `I16`/`I32`/`I64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A boolean: 0 or 1.
    I1,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 128-bit integer or vector.
    I128,
    /// No value (stores, state writes).
    Void,
}

impl Type {
    /// Width in bits (0 for `Void`).
    pub const fn bits(self) -> u32 {
        match self {
            Type::I1 => 1,
            Type::I8 => 8,
            Type::I16 => 16,
            Type::I32 => 32,
            Type::I64 => 64,
            Type::I128 => 128,
            Type::Void => 0,
        }
    }

    /// Width in bytes of a memory access of this type.
    pub const fn bytes(self) -> u32 {
        self.bits().div_ceil(8)
    }

    /// The integer type of `bytes` bytes (1, 2, 4, 8 or 16).
    pub const fn from_bytes(bytes: u32) -> Type {
        match bytes {
            1 => Type::I8,
            2 => Type::I16,
            4 => Type::I32,
            8 => Type::I64,
            16 => Type::I128,
            _ => panic!("no integer type of that size"),
        }
    }

    /// All-ones mask of this width, as u128.
    pub const fn mask(self) -> u128 {
        match self {
            Type::I128 => u128::MAX,
            Type::Void => 0,
            t => (1u128 << t.bits()) - 1,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Type::I1 => "i1",
            Type::I8 => "i8",
            Type::I16 => "i16",
            Type::I32 => "i32",
            Type::I64 => "i64",
            Type::I128 => "i128",
            Type::Void => "void",
        };
        f.write_str(s)
    }
}
