//! binfmt_misc entries: the flags, the registration string written to
//! `register`, and the parser for the per-entry files the kernel shows.

use crate::Error;
use crate::arch::{Arch, decode_hex};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The flags of a binfmt_misc entry (Documentation/admin-guide/binfmt-misc.rst).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `P`: the interpreter gets the original argv[0] after the binary's path.
    pub preserve_argv0: bool,
    /// `O`: the kernel opens the binary and passes it as `AT_EXECFD`.
    pub open_binary: bool,
    /// `C`: credentials come from the binary (setuid/setgid work); implies `O`.
    pub credentials: bool,
    /// `F`: the interpreter is opened at registration, so it works in any
    /// mount namespace or chroot.
    pub fix_binary: bool,
}

impl Flags {
    /// The flags xarch registers by default: the most transparent setting.
    pub const DEFAULT: Flags = Flags {
        preserve_argv0: true,
        open_binary: true,
        credentials: true,
        fix_binary: true,
    };
}

impl FromStr for Flags {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut f = Flags::default();
        for c in s.chars() {
            match c {
                'P' => f.preserve_argv0 = true,
                'O' => f.open_binary = true,
                // The kernel sets the open-binary bit too: C needs the fd.
                'C' => {
                    f.credentials = true;
                    f.open_binary = true;
                }
                'F' => f.fix_binary = true,
                _ => return Err(Error::BadFlags(s.to_owned())),
            }
        }
        Ok(f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Same order as the kernel prints them.
        for (on, c) in [
            (self.preserve_argv0, 'P'),
            (self.open_binary, 'O'),
            (self.credentials, 'C'),
            (self.fix_binary, 'F'),
        ] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How an entry recognises binaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// Bytes at `offset`, compared after and-ing with `mask`.
    Magic {
        /// Offset of the first compared byte in the file.
        offset: usize,
        /// The expected bytes.
        magic: Vec<u8>,
        /// The mask (all ones when the entry has none).
        mask: Vec<u8>,
    },
    /// The file name's extension.
    Extension(String),
}

impl Matcher {
    /// The matcher of an xarch architecture.
    pub fn of_arch(arch: &Arch) -> Matcher {
        Matcher::Magic {
            offset: 0,
            magic: arch.magic_bytes(),
            mask: arch.mask_bytes(),
        }
    }

    /// Whether some file exists that both matchers select. Extension entries
    /// are chosen by name, not content, and never overlap a magic entry here.
    pub fn overlaps(&self, other: &Matcher) -> bool {
        let (
            Matcher::Magic {
                offset: o1,
                magic: m1,
                mask: k1,
            },
            Matcher::Magic {
                offset: o2,
                magic: m2,
                mask: k2,
            },
        ) = (self, other)
        else {
            return matches!((self, other), (Matcher::Extension(a), Matcher::Extension(b)) if a == b);
        };
        let start = (*o1).max(*o2);
        let end = (o1 + m1.len()).min(o2 + m2.len());
        (start..end).all(|p| {
            let (a, b) = (p - o1, p - o2);
            (m1[a] ^ m2[b]) & k1[a] & k2[b] == 0
        })
    }
}

/// One entry as the kernel shows it in `<mountpoint>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Entry (file) name.
    pub name: String,
    /// Whether the entry is enabled.
    pub enabled: bool,
    /// Interpreter path as registered.
    pub interpreter: String,
    /// Flags.
    pub flags: Flags,
    /// What it matches.
    pub matcher: Matcher,
}

impl Entry {
    /// Parses the text of an entry file.
    pub fn parse(name: &str, text: &str) -> Result<Entry, Error> {
        let bad = |why: &str| Error::BadEntry(name.to_owned(), why.to_owned());
        let mut lines = text.lines();
        let enabled = match lines.next() {
            Some("enabled") => true,
            Some("disabled") => false,
            _ => return Err(bad("no enabled/disabled line")),
        };
        let (mut interpreter, mut flags, mut offset, mut magic, mut mask, mut ext) =
            (None, Flags::default(), 0, None, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "interpreter" => interpreter = Some(value.to_owned()),
                "flags:" => flags = value.parse().map_err(|_| bad("unknown flag"))?,
                "offset" => offset = value.parse().map_err(|_| bad("bad offset"))?,
                "magic" => magic = Some(decode_hex(value).ok_or_else(|| bad("bad magic"))?),
                "mask" => mask = Some(decode_hex(value).ok_or_else(|| bad("bad mask"))?),
                "extension" => ext = Some(value.trim_start_matches('.').to_owned()),
                _ => {}
            }
        }
        let matcher = match (magic, ext) {
            (Some(magic), None) => {
                let mask = mask.unwrap_or_else(|| vec![0xff; magic.len()]);
                if mask.len() != magic.len() {
                    return Err(bad("mask and magic differ in length"));
                }
                Matcher::Magic {
                    offset,
                    magic,
                    mask,
                }
            }
            (None, Some(ext)) => Matcher::Extension(ext),
            _ => return Err(bad("neither magic nor extension")),
        };
        Ok(Entry {
            name: name.to_owned(),
            enabled,
            interpreter: interpreter.ok_or_else(|| bad("no interpreter"))?,
            flags,
            matcher,
        })
    }
}

/// A registration to write to `register`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Entry name.
    pub name: String,
    /// Magic-based matcher.
    pub offset: usize,
    /// Magic bytes.
    pub magic: Vec<u8>,
    /// Mask bytes.
    pub mask: Vec<u8>,
    /// Interpreter path.
    pub interpreter: String,
    /// Flags.
    pub flags: Flags,
}

/// The kernel's limit on one registration string (fs/binfmt_misc.c).
const MAX_REGISTER_LENGTH: usize = 1920;

impl Registration {
    /// The registration of `arch` with the given interpreter and flags.
    pub fn for_arch(arch: &Arch, interpreter: &str, flags: Flags) -> Registration {
        Registration {
            name: arch.entry_name(),
            offset: 0,
            magic: arch.magic_bytes(),
            mask: arch.mask_bytes(),
            interpreter: interpreter.to_owned(),
            flags,
        }
    }

    /// The line for `register` and for systemd's binfmt.d:
    /// `:name:M:offset:magic:mask:interpreter:flags`, every magic and mask
    /// byte escaped as `\xHH` so colons and NULs cannot break the fields.
    pub fn to_line(&self) -> Result<String, Error> {
        if self.interpreter.contains([':', '\n', '\0']) || !self.interpreter.starts_with('/') {
            return Err(Error::BadInterpreter(self.interpreter.clone()));
        }
        let esc = |b: &[u8]| b.iter().map(|b| format!("\\x{b:02x}")).collect::<String>();
        let offset = if self.offset == 0 {
            String::new()
        } else {
            self.offset.to_string()
        };
        let line = format!(
            ":{}:M:{}:{}:{}:{}:{}",
            self.name,
            offset,
            esc(&self.magic),
            esc(&self.mask),
            self.interpreter,
            self.flags
        );
        if line.len() > MAX_REGISTER_LENGTH {
            return Err(Error::BadInterpreter(self.interpreter.clone()));
        }
        Ok(line)
    }

    /// Whether the kernel's `entry` is this registration, enabled.
    pub fn is_registered_as(&self, entry: &Entry) -> bool {
        entry.name == self.name
            && entry.enabled
            && entry.interpreter == self.interpreter
            && entry.flags == self.flags
            && entry.matcher
                == Matcher::Magic {
                    offset: self.offset,
                    magic: self.magic.clone(),
                    mask: self.mask.clone(),
                }
    }
}

/// The entry the kernel uses for files `matcher` selects: the first
/// enabled overlapping entry in `entries`, which must be in kernel order
/// (newest registration first, as the binfmt_misc directory lists them).
pub fn winner<'a>(entries: &'a [Entry], matcher: &Matcher) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| e.enabled && e.matcher.overlaps(matcher))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::ARCHES;

    const QEMU_AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    #[test]
    fn flags_parse_and_print() {
        let f: Flags = "POCF".parse().unwrap();
        assert_eq!(f, Flags::DEFAULT);
        assert_eq!(f.to_string(), "POCF");
        // C implies O, as in the kernel.
        assert_eq!("C".parse::<Flags>().unwrap().to_string(), "OC");
        assert_eq!("FP".parse::<Flags>().unwrap().to_string(), "PF");
        assert_eq!("".parse::<Flags>().unwrap().to_string(), "");
        assert!("PX".parse::<Flags>().is_err());
        assert!("p".parse::<Flags>().is_err());
    }

    #[test]
    fn parses_kernel_entry() {
        let e = Entry::parse("qemu-aarch64", QEMU_AARCH64).unwrap();
        assert!(e.enabled);
        assert_eq!(e.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
        assert_eq!(e.flags, Flags::DEFAULT);
        assert_eq!(e.matcher, Matcher::of_arch(&ARCHES[0]));

        let ext = Entry::parse(
            "py",
            "disabled\ninterpreter /usr/bin/python3\nflags: \nextension .py\n",
        )
        .unwrap();
        assert!(!ext.enabled);
        assert_eq!(ext.matcher, Matcher::Extension("py".into()));
        assert_eq!(ext.flags, Flags::default());

        let nomask = Entry::parse(
            "x",
            "enabled\ninterpreter /x\nflags: \noffset 2\nmagic 4142\n",
        )
        .unwrap();
        assert_eq!(
            nomask.matcher,
            Matcher::Magic {
                offset: 2,
                magic: vec![0x41, 0x42],
                mask: vec![0xff, 0xff]
            }
        );
        assert!(Entry::parse("x", "garbage").is_err());
        assert!(Entry::parse("x", "enabled\nflags: \nmagic 41\n").is_err());
    }

    #[test]
    fn registration_line() {
        let r = Registration::for_arch(
            &ARCHES[0],
            "/usr/local/libexec/xarch/xarch-aarch64-binfmt",
            Flags::DEFAULT,
        );
        assert_eq!(
            r.to_line().unwrap(),
            r":xarch-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/local/libexec/xarch/xarch-aarch64-binfmt:POCF"
        );
        let mut bad = r.clone();
        bad.interpreter = "/a:b".into();
        assert!(bad.to_line().is_err());
        bad.interpreter = "relative".into();
        assert!(bad.to_line().is_err());
        bad.interpreter = format!("/{}", "a".repeat(2000));
        assert!(bad.to_line().is_err());
        let e = Entry::parse(
            "xarch-aarch64",
            &QEMU_AARCH64.replace("/usr/libexec/qemu-binfmt/aarch64-binfmt-P", &r.interpreter),
        )
        .unwrap();
        assert!(r.is_registered_as(&e));
        let mut other_flags = r.clone();
        other_flags.flags = "F".parse().unwrap();
        assert!(!other_flags.is_registered_as(&e));
    }

    #[test]
    fn overlap() {
        let a64 = Matcher::of_arch(&ARCHES[0]);
        let rv = Matcher::Magic {
            offset: 0,
            magic: decode_hex("7f454c460201010000000000000000000200f300").unwrap(),
            mask: decode_hex("ffffffffffffff00fffffffffffffffffeffffff").unwrap(),
        };
        assert!(a64.overlaps(&a64));
        assert!(!a64.overlaps(&rv));
        // A handler for "any ELF" overlaps every architecture.
        let any_elf = Matcher::Magic {
            offset: 0,
            magic: b"\x7fELF".to_vec(),
            mask: vec![0xff; 4],
        };
        assert!(any_elf.overlaps(&a64) && a64.overlaps(&any_elf));
        // Only e_machine at offset 18, shifted: overlaps aarch64 but not riscv64.
        let machine = Matcher::Magic {
            offset: 18,
            magic: vec![0xb7, 0x00],
            mask: vec![0xff, 0xff],
        };
        assert!(machine.overlaps(&a64));
        assert!(!machine.overlaps(&rv));
        // Disjoint ranges always overlap (some file has both patterns).
        let far = Matcher::Magic {
            offset: 100,
            magic: vec![1],
            mask: vec![0xff],
        };
        assert!(far.overlaps(&a64));
        assert!(!Matcher::Extension("py".into()).overlaps(&a64));
    }

    #[test]
    fn first_enabled_overlapping_entry_wins() {
        let a64 = Matcher::of_arch(&ARCHES[0]);
        let mk = |name: &str, enabled| {
            let mut e = Entry::parse(name, QEMU_AARCH64).unwrap();
            e.enabled = enabled;
            e
        };
        let entries = vec![
            mk("newest-disabled", false),
            mk("qemu-aarch64", true),
            mk("xarch-aarch64", true),
        ];
        assert_eq!(winner(&entries, &a64).unwrap().name, "qemu-aarch64");
        assert!(winner(&entries[..1], &a64).is_none());
    }
}
