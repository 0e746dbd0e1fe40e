//! The guest's view of its own /proc files. The host's show xarch (its
//! command line, auxiliary vector, mappings and CPU); these are rebuilt
//! for the guest and served from a sealed-size memfd, so reads, seeks and
//! mmap work as on a regular file:
//!
//! - `maps`: guest mappings only, with guest protections (`x` included);
//! - `auxv`: the vector xarch built for the guest;
//! - `cmdline`: the guest's argv;
//! - `cpuinfo`: arm64 format, features and MIDR from `xarch_a64::sysregs`.
//!
//! `/proc/self/comm` passes through: xarch names its host threads after the
//! guest program, and PR_SET_NAME passes through.

use crate::process::Process;
use std::fmt::Write as _;

/// Field `n` (numbered from 1, as in proc(5); from 3 on, those after the
/// command name, which may hold spaces and parentheses) of the host's
/// `/proc/<pid>/stat` (`self` for this process) for each of `ns`, read
/// once. Non-numeric fields (the state) read 0.
pub fn host_stat(pid: &str, ns: &[usize]) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 3 is the first after the name's ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_ascii_whitespace()
        .collect();
    ns.iter()
        .map(|&n| Some(fields.get(n.checked_sub(3)?)?.parse().unwrap_or(0)))
        .collect()
}

/// Which generated file a path names, if any (`/proc/self/X`,
/// `/proc/thread-self/X`, `/proc/<own pid>/X`, `/proc/<own pid>/task/<tid>/X`,
/// `/proc/cpuinfo`).
pub fn lookup(path: &[u8]) -> Option<&'static str> {
    let s = std::str::from_utf8(path).ok()?;
    if s == "/proc/cpuinfo" {
        return Some("cpuinfo");
    }
    let rest = s.strip_prefix("/proc/")?;
    let (who, file) = rest.split_once('/')?;
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() }.to_string();
    let file = match who {
        "self" | "thread-self" => file,
        w if w == pid => match file.strip_prefix("task/") {
            Some(t) => t.split_once('/')?.1,
            None => file,
        },
        _ => return None,
    };
    ["maps", "auxv", "cmdline"].into_iter().find(|&f| f == file)
}

/// The contents of generated file `name` for process `p`.
pub fn contents(p: &Process, name: &str) -> Vec<u8> {
    match name {
        "maps" => maps(p).into_bytes(),
        "auxv" => p.auxv.clone(),
        "cmdline" => p.cmdline.clone(),
        "cpuinfo" => cpuinfo().into_bytes(),
        _ => Vec::new(),
    }
}

/// Opens generated file `name` (flags are host open flags): a memfd holding
/// the contents, positioned at the start. Writing is refused like /proc's.
pub fn open(p: &Process, name: &str, flags: i32) -> Result<i32, i32> {
    if flags & libc::O_ACCMODE != libc::O_RDONLY {
        return Err(libc::EACCES);
    }
    let data = contents(p, name);
    let cloexec = if flags & libc::O_CLOEXEC != 0 {
        libc::MFD_CLOEXEC
    } else {
        0
    };
    // SAFETY: a static NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"xarch-proc".as_ptr(), cloexec) };
    if fd < 0 {
        return Err(crate::syscall::errno());
    }
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a live buffer into our memfd.
        let n = unsafe {
            libc::write(
                fd,
                data[off..].as_ptr() as *const libc::c_void,
                data.len() - off,
            )
        };
        if n <= 0 {
            let e = crate::syscall::errno();
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        off += n as usize;
    }
    // SAFETY: lseek and fcntl on our own fd; read-only from now on.
    unsafe {
        libc::lseek(fd, 0, libc::SEEK_SET);
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | (flags & libc::O_NONBLOCK));
    }
    Ok(fd)
}

/// `/proc/self/maps` restricted to guest memory: host lines clipped to the
/// guest regions (keeping file names and offsets), guest protections.
pub fn maps(p: &Process) -> String {
    let host = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let regions = p.mm.regions();
    let mut out = String::new();
    for line in host.lines() {
        let mut it = line.splitn(6, ' ');
        let (Some(range), Some(_perms), Some(off), Some(dev), Some(inode)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        let name = it.next().unwrap_or("").trim_start();
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(hs), Ok(he), Ok(hoff)) = (
            u64::from_str_radix(a, 16),
            u64::from_str_radix(b, 16),
            u64::from_str_radix(off, 16),
        ) else {
            continue;
        };
        let shared = line.split(' ').nth(1).is_some_and(|p| p.ends_with('s'));
        for &(gs, ge, prot) in &regions {
            let s = gs.max(hs);
            let e = ge.min(he);
            if s >= e {
                continue;
            }
            let perms = format!(
                "{}{}{}{}",
                if prot & libc::PROT_READ != 0 {
                    'r'
                } else {
                    '-'
                },
                if prot & libc::PROT_WRITE != 0 {
                    'w'
                } else {
                    '-'
                },
                if prot & libc::PROT_EXEC != 0 {
                    'x'
                } else {
                    '-'
                },
                if shared { 's' } else { 'p' },
            );
            let o = if inode != "0" { hoff + (s - hs) } else { 0 };
            let prefix = format!("{s:08x}-{e:08x} {perms} {o:08x} {dev} {inode}");
            // The guest vDSO is an anonymous mapping of ours: label it as
            // the kernel labels its own.
            let name = if name.is_empty() && inode == "0" && xarch_a64::vdso::contains(s) {
                "[vdso]"
            } else {
                name
            };
            if name.is_empty() {
                let _ = writeln!(out, "{prefix}");
            } else {
                let _ = writeln!(out, "{prefix:<72} {name}");
            }
        }
    }
    out
}

/// `/proc/cpuinfo` as an arm64 kernel prints it, one entry per host CPU.
pub fn cpuinfo() -> String {
    let midr = xarch_a64::sysregs::MIDR;
    // SAFETY: sysconf is always safe.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    let mut out = String::new();
    for cpu in 0..n {
        let _ = write!(
            out,
            "processor\t: {cpu}\nBogoMIPS\t: 2000.00\nFeatures\t: {}\n\
             CPU implementer\t: {:#04x}\nCPU architecture: 8\nCPU variant\t: {:#x}\n\
             CPU part\t: {:#05x}\nCPU revision\t: {}\n\n",
            xarch_a64::sysregs::CPUINFO_FEATURES,
            (midr >> 24) & 0xff,
            (midr >> 20) & 0xf,
            (midr >> 4) & 0xfff,
            midr & 0xf,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_stat_fields_are_numbered_as_in_proc5() {
        // SAFETY: getpid and getppid cannot fail.
        let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
        let f = host_stat("self", &[3, 4, 48]).unwrap();
        assert_eq!(f[0], 0, "the state is a letter");
        assert_eq!(f[1], ppid as u64);
        assert!(f[2] > 0, "arg_start");
        assert_eq!(host_stat(&pid.to_string(), &[4]).unwrap(), [ppid as u64]);
        // The pid and the name come before the fields this reads.
        assert_eq!(host_stat("self", &[1]), None);
        assert_eq!(host_stat("self", &[1000]), None);
    }

    #[test]
    fn names() {
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() };
        assert_eq!(lookup(b"/proc/self/maps"), Some("maps"));
        assert_eq!(lookup(b"/proc/thread-self/auxv"), Some("auxv"));
        assert_eq!(
            lookup(format!("/proc/{pid}/cmdline").as_bytes()),
            Some("cmdline")
        );
        assert_eq!(
            lookup(format!("/proc/{pid}/task/{pid}/maps").as_bytes()),
            Some("maps")
        );
        assert_eq!(lookup(b"/proc/cpuinfo"), Some("cpuinfo"));
        assert_eq!(lookup(b"/proc/1/maps"), None);
        assert_eq!(lookup(b"/proc/self/status"), None);
    }

    #[test]
    fn cpuinfo_is_arm64() {
        let c = cpuinfo();
        assert!(c.contains(&format!(
            "Features\t: {}\n",
            xarch_a64::sysregs::CPUINFO_FEATURES
        )));
        assert!(c.contains("CPU implementer\t: 0x41\n"), "{c}");
        assert!(c.contains("CPU part\t: 0xd08\n"), "{c}");
    }

    #[test]
    fn maps_lists_guest_memory_only() {
        let mut p = Process::new(Default::default());
        let a =
            p.mm.mmap(
                0,
                2 * crate::mm::PAGE,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        let m = maps(&p);
        assert_eq!(m.lines().count(), 1, "{m}");
        assert!(
            m.starts_with(&format!("{a:08x}-{:08x} r-xp ", a + 2 * crate::mm::PAGE)),
            "{m}"
        );
    }
}
