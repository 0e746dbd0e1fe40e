//! The guest architectures xarch registers binfmt_misc handlers for.
//!
//! One line per architecture: magic and mask are the ELF header pattern the
//! kernel compares (the same values QEMU's `qemu-binfmt-conf.sh` uses), so
//! adding riscv64 is adding its line to [`ARCHES`].

/// One guest architecture xarch can be the binfmt_misc handler for.
#[derive(Debug, PartialEq, Eq)]
pub struct Arch {
    /// Architecture name as `uname -m` prints it in the guest.
    pub name: &'static str,
    /// OCI platform string.
    pub platform: &'static str,
    /// Bytes the kernel compares at offset 0, as hex.
    pub magic: &'static str,
    /// Mask applied before comparing, as hex (same length as `magic`).
    pub mask: &'static str,
}

/// Every architecture xarch handles. First 20 bytes of the ELF header: class
/// (64-bit), data (little endian), version, e_type (EXEC or DYN through the
/// `fe` mask byte) and e_machine.
#[rustfmt::skip]
pub const ARCHES: &[Arch] = &[
    Arch { name: "aarch64", platform: "linux/arm64", magic: "7f454c460201010000000000000000000200b700", mask: "ffffffffffffff00fffffffffffffffffeffffff" },
    // Arch { name: "riscv64", platform: "linux/riscv64", magic: "7f454c460201010000000000000000000200f300", mask: "ffffffffffffff00fffffffffffffffffeffffff" },
];

impl Arch {
    /// Looks an architecture up by name (`aarch64`), OCI platform
    /// (`linux/arm64`) or the platform's architecture part (`arm64`).
    pub fn lookup(name: &str) -> Option<&'static Arch> {
        ARCHES.iter().find(|a| {
            a.name == name || a.platform == name || a.platform.strip_prefix("linux/") == Some(name)
        })
    }

    /// The magic bytes.
    pub fn magic_bytes(&self) -> Vec<u8> {
        decode_hex(self.magic).expect("ARCHES holds valid hex")
    }

    /// The mask bytes.
    pub fn mask_bytes(&self) -> Vec<u8> {
        decode_hex(self.mask).expect("ARCHES holds valid hex")
    }

    /// Name of the binfmt_misc entry: `xarch-aarch64`.
    pub fn entry_name(&self) -> String {
        format!("xarch-{}", self.name)
    }

    /// File name of the interpreter the entry registers, which is how xarch
    /// recognises that the kernel started it as a handler:
    /// `xarch-aarch64-binfmt`.
    pub fn handler_file_name(&self) -> String {
        format!("xarch-{}-binfmt", self.name)
    }
}

/// Decodes a string of hex digit pairs.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Encodes bytes as lowercase hex, the way the kernel prints them.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The OCI platform of ELF binaries a magic/mask pair at `offset` selects,
/// when the pattern pins an ELF header's class, byte order and machine.
/// Used to describe other handlers (qemu-riscv64, ...) in `status`.
pub fn elf_platform(offset: usize, magic: &[u8], mask: &[u8]) -> Option<&'static str> {
    if offset != 0 || magic.len() < 20 {
        return None;
    }
    let full = |i: usize| mask.get(i).is_none_or(|&m| m == 0xff);
    if magic[..4] != *b"\x7fELF" || !(0..6).all(full) || !full(18) || !full(19) {
        return None;
    }
    let machine = u16::from_le_bytes([magic[18], magic[19]]);
    let machine_be = u16::from_be_bytes([magic[18], magic[19]]);
    Some(match (magic[4], magic[5]) {
        (2, 1) => match machine {
            62 => "linux/amd64",
            183 => "linux/arm64",
            243 => "linux/riscv64",
            21 => "linux/ppc64le",
            8 => "linux/mips64le",
            258 => "linux/loong64",
            _ => return None,
        },
        (1, 1) => match machine {
            3 => "linux/386",
            40 => "linux/arm/v7",
            8 => "linux/mipsle",
            _ => return None,
        },
        (2, 2) => match machine_be {
            22 => "linux/s390x",
            21 => "linux/ppc64",
            8 => "linux/mips64",
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for a in ARCHES {
            let magic = a.magic_bytes();
            let mask = a.mask_bytes();
            assert_eq!(magic.len(), mask.len(), "{}", a.name);
            // Every magic bit is inside the mask, or the entry never matches.
            assert!(
                magic.iter().zip(&mask).all(|(m, k)| m & !k == 0),
                "{}",
                a.name
            );
            assert_eq!(
                elf_platform(0, &magic, &mask),
                Some(a.platform),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn aarch64_matches_qemu() {
        let a = Arch::lookup("arm64").unwrap();
        assert_eq!(a.name, "aarch64");
        assert_eq!(Arch::lookup("linux/arm64"), Some(a));
        assert_eq!(a.magic, "7f454c460201010000000000000000000200b700");
        assert_eq!(a.mask, "ffffffffffffff00fffffffffffffffffeffffff");
        assert_eq!(a.entry_name(), "xarch-aarch64");
        assert_eq!(a.handler_file_name(), "xarch-aarch64-binfmt");
        assert!(Arch::lookup("sparc").is_none());
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(decode_hex("7f45ff"), Some(vec![0x7f, 0x45, 0xff]));
        assert_eq!(decode_hex("7f4"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(encode_hex(&[0x7f, 0, 0xb7]), "7f00b7");
    }

    #[test]
    fn platforms_of_other_handlers() {
        // qemu-riscv64 and qemu-arm as qemu-binfmt-conf.sh registers them.
        let rv = decode_hex("7f454c460201010000000000000000000200f300").unwrap();
        let rv_mask = decode_hex("ffffffffffffff00fffffffffffffffffeffffff").unwrap();
        assert_eq!(elf_platform(0, &rv, &rv_mask), Some("linux/riscv64"));
        let arm = decode_hex("7f454c4601010100000000000000000002002800").unwrap();
        let arm_mask = decode_hex("ffffffffffffff00fffffffffffffffffeffffff").unwrap();
        assert_eq!(elf_platform(0, &arm, &arm_mask), Some("linux/arm/v7"));
        assert_eq!(elf_platform(1, &arm, &arm_mask), None);
        assert_eq!(elf_platform(0, b"MZ", &[]), None);
    }
}
