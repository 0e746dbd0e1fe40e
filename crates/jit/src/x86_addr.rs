//! Decoding the memory operand of a faulting x86-64 instruction: a guest
//! access at a non-canonical address raises #GP, for which the kernel
//! reports no fault address.

/// The memory operand address of the x86-64 instruction at `ip` (the
/// forms Cranelift and the baseline tier emit for loads and stores:
/// legacy/REX/VEX prefixes, one- to three-byte opcodes, ModRM with SIB
/// and displacement), computed from the interrupted registers. `None` for forms it does not know.
///
/// # Safety
/// `ip` must point at a readable instruction of at least 15 bytes.
pub(crate) unsafe fn effective_address(ip: *const u8, gregs: &[i64; 23]) -> Option<u64> {
    // SAFETY: the caller guarantees 15 readable bytes.
    let code = unsafe { core::slice::from_raw_parts(ip, 15) };
    let mut i = 0;
    let (mut rex_x, mut rex_b) = (false, false);
    let mut map = 0; // 0: one-byte opcodes, 1: 0F, 2: 0F 38, 3: 0F 3A
    loop {
        match code[i] {
            0x66 | 0xf2 | 0xf3 | 0xf0 | 0x2e | 0x3e | 0x26 | 0x36 => i += 1,
            0x40..=0x4f => {
                rex_x = code[i] & 2 != 0;
                rex_b = code[i] & 1 != 0;
                i += 1;
            }
            0xc5 => {
                map = 1;
                i += 2;
                break;
            }
            0xc4 => {
                rex_x = code[i + 1] & 0x40 == 0;
                rex_b = code[i + 1] & 0x20 == 0;
                map = (code[i + 1] & 0x1f) as usize;
                i += 3;
                break;
            }
            _ => break,
        }
    }
    if map == 0 && code[i] == 0x0f {
        i += 1;
        map = 1;
        if code[i] == 0x38 || code[i] == 0x3a {
            map = if code[i] == 0x38 { 2 } else { 3 };
            i += 1;
        }
    }
    let _ = map;
    i += 1; // the opcode byte
    let modrm = code[i];
    i += 1;
    let md = modrm >> 6;
    let rm = modrm & 7;
    if md == 3 {
        return None;
    }
    // Register numbers to ucontext gregs indices.
    const GREG: [i32; 16] = [
        libc::REG_RAX,
        libc::REG_RCX,
        libc::REG_RDX,
        libc::REG_RBX,
        libc::REG_RSP,
        libc::REG_RBP,
        libc::REG_RSI,
        libc::REG_RDI,
        libc::REG_R8,
        libc::REG_R9,
        libc::REG_R10,
        libc::REG_R11,
        libc::REG_R12,
        libc::REG_R13,
        libc::REG_R14,
        libc::REG_R15,
    ];
    let reg = |n: u8| gregs[GREG[n as usize] as usize] as u64;
    let mut addr: u64;
    if rm == 4 {
        let sib = code[i];
        i += 1;
        let scale = sib >> 6;
        let index = ((sib >> 3) & 7) | ((rex_x as u8) << 3);
        let base = (sib & 7) | ((rex_b as u8) << 3);
        addr = if index == 4 { 0 } else { reg(index) << scale };
        if sib & 7 == 5 && md == 0 {
            let d = i32::from_le_bytes(code[i..i + 4].try_into().ok()?);
            i += 4;
            addr = addr.wrapping_add(d as i64 as u64);
        } else {
            addr = addr.wrapping_add(reg(base));
        }
    } else if rm == 5 && md == 0 {
        return None; // rip-relative: not a guest access
    } else {
        addr = reg(rm | ((rex_b as u8) << 3));
    }
    let disp = match md {
        1 => code[i] as i8 as i64,
        2 => i32::from_le_bytes(code[i..i + 4].try_into().ok()?) as i64,
        _ => 0,
    };
    Some(addr.wrapping_add(disp as u64))
}
