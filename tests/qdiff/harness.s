// Differential-test harness for qemu-aarch64 (see
// crates/a64/tests/common/qdiff.rs, which builds and drives it).
//
// Static, libc-free AArch64 program. It maps a code page at CODE and a data
// window at WIN (both fixed addresses, so that PC-relative results and
// memory addresses are the same as in xarch's run of the same case), then
// loops over the case records read from stdin:
//
//   in:  regs[36] u64   X0-X30, SP, NZCV, FPCR, FPSR, spare
//        v[32]   u128  V0-V31
//        window  WSIZE bytes
//        n       u64   number of code words
//        code    NWORDS u32
//   out: status  u64   0, or the signal number that ended the case
//        addr    u64   si_addr of that signal
//        regs[36], v[32], window   (as above, after the case)
//
// For each case it copies the window and the code (followed by a branch to
// `epilogue`) into place, loads the whole register state, branches to the
// code, stores the register state when the code falls through to the
// epilogue, and writes the record to stdout. A SIGILL/SIGSEGV/SIGBUS/SIGTRAP/
// SIGFPE raised by the case is caught on an alternate stack and reported in
// `status`. WSIZE and NWORDS come from `as --defsym`; CODE and WIN from
// `ld --defsym`, so that `b CODE` is relocated to that absolute address.
// TPIDR_EL0 is the harness's scratch register: cases must not use it.

        .equ IN_V, 288
        .equ IN_WIN, 800
        .equ IN_N, IN_WIN + WSIZE
        .equ IN_CODE, IN_N + 8
        .equ IN_SIZE, IN_CODE + 4 * NWORDS
        .equ OUT_REGS, 16
        .equ OUT_V, OUT_REGS + 288
        .equ OUT_WIN, OUT_V + 512
        .equ OUT_SIZE, OUT_WIN + WSIZE
        .equ MAPSIZE, 0x2000
        .equ ALTSIZE, 0x10000

        .text
        .global _start
_start:
        // mmap(CODE, MAPSIZE, RWX, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0)
        ldr     x0, =CODE
        ldr     x1, =MAPSIZE
        mov     x2, #7
        mov     x3, #0x32
        mov     x4, #-1
        mov     x5, #0
        mov     x8, #222
        svc     #0
        ldr     x1, =CODE
        cmp     x0, x1
        b.ne    fail
        // sigaltstack(&altstack_t, NULL)
        adrp    x0, altstack_t
        add     x0, x0, :lo12:altstack_t
        adrp    x1, altstack
        add     x1, x1, :lo12:altstack
        str     x1, [x0]
        mov     x1, #0
        mov     x8, #132
        svc     #0
        cbnz    x0, fail
        // rt_sigaction for SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV
        adrp    x19, sigact
        add     x19, x19, :lo12:sigact
        adr     x0, handler
        str     x0, [x19]
        adr     x0, restorer
        str     x0, [x19, #16]
        mov     x0, #4
        bl      install
        mov     x0, #5
        bl      install
        mov     x0, #7
        bl      install
        mov     x0, #8
        bl      install
        mov     x0, #11
        bl      install

next_case:
        adrp    x19, inbuf
        add     x19, x19, :lo12:inbuf
        adrp    x21, outbuf
        add     x21, x21, :lo12:outbuf
        // Read one whole input record.
        mov     x20, #0
1:      mov     x0, #0
        add     x1, x19, x20
        ldr     x2, =IN_SIZE
        sub     x2, x2, x20
        mov     x8, #63
        svc     #0
        cmp     x0, #0
        b.lt    fail
        b.eq    eof
        add     x20, x20, x0
        ldr     x2, =IN_SIZE
        cmp     x20, x2
        b.lo    1b
        stp     xzr, xzr, [x21]
        // Window.
        ldr     x0, =WIN
        add     x1, x19, #IN_WIN
        mov     x2, #WSIZE
2:      ldp     x3, x4, [x1], #16
        stp     x3, x4, [x0], #16
        subs    x2, x2, #16
        b.ne    2b
        // Code, then `b epilogue`.
        ldr     x0, =CODE
        ldr     x2, [x19, #IN_N]
        ldr     x1, =IN_CODE
        add     x1, x19, x1
3:      cbz     x2, 4f
        ldr     w3, [x1], #4
        str     w3, [x0], #4
        sub     x2, x2, #1
        b       3b
4:      adr     x3, epilogue
        sub     x3, x3, x0
        asr     x3, x3, #2
        and     x3, x3, #0x3ffffff
        mov     x4, #0x14000000
        orr     x3, x3, x4
        str     w3, [x0]
        // Make the new code visible to instruction fetch.
        ldr     x1, =CODE
5:      dc      cvau, x1
        add     x1, x1, #64
        cmp     x1, x0
        b.ls    5b
        dsb     ish
        ldr     x1, =CODE
6:      ic      ivau, x1
        add     x1, x1, #64
        cmp     x1, x0
        b.ls    6b
        dsb     ish
        isb
        // Save the harness SP; load the case state and run it.
        mov     x0, sp
        adrp    x1, saved_sp
        str     x0, [x1, :lo12:saved_sp]
        mov     x0, x19
        ldr     x1, [x0, #264]
        msr     fpcr, x1
        ldr     x1, [x0, #272]
        msr     fpsr, x1
        ldr     x1, [x0, #256]
        msr     nzcv, x1
        add     x1, x0, #IN_V
        ldp     q0, q1, [x1, #0]
        ldp     q2, q3, [x1, #32]
        ldp     q4, q5, [x1, #64]
        ldp     q6, q7, [x1, #96]
        ldp     q8, q9, [x1, #128]
        ldp     q10, q11, [x1, #160]
        ldp     q12, q13, [x1, #192]
        ldp     q14, q15, [x1, #224]
        ldp     q16, q17, [x1, #256]
        ldp     q18, q19, [x1, #288]
        ldp     q20, q21, [x1, #320]
        ldp     q22, q23, [x1, #352]
        ldp     q24, q25, [x1, #384]
        ldp     q26, q27, [x1, #416]
        ldp     q28, q29, [x1, #448]
        ldp     q30, q31, [x1, #480]
        ldr     x1, [x0, #248]
        mov     sp, x1
        ldp     x1, x2, [x0, #8]
        ldp     x3, x4, [x0, #24]
        ldp     x5, x6, [x0, #40]
        ldp     x7, x8, [x0, #56]
        ldp     x9, x10, [x0, #72]
        ldp     x11, x12, [x0, #88]
        ldp     x13, x14, [x0, #104]
        ldp     x15, x16, [x0, #120]
        ldp     x17, x18, [x0, #136]
        ldp     x19, x20, [x0, #152]
        ldp     x21, x22, [x0, #168]
        ldp     x23, x24, [x0, #184]
        ldp     x25, x26, [x0, #200]
        ldp     x27, x28, [x0, #216]
        ldp     x29, x30, [x0, #232]
        ldr     x0, [x0]
        b       CODE

epilogue:
        msr     tpidr_el0, x0
        adrp    x0, outbuf
        add     x0, x0, :lo12:outbuf
        stp     x1, x2, [x0, #OUT_REGS + 8]
        stp     x3, x4, [x0, #OUT_REGS + 24]
        stp     x5, x6, [x0, #OUT_REGS + 40]
        stp     x7, x8, [x0, #OUT_REGS + 56]
        stp     x9, x10, [x0, #OUT_REGS + 72]
        stp     x11, x12, [x0, #OUT_REGS + 88]
        stp     x13, x14, [x0, #OUT_REGS + 104]
        stp     x15, x16, [x0, #OUT_REGS + 120]
        stp     x17, x18, [x0, #OUT_REGS + 136]
        stp     x19, x20, [x0, #OUT_REGS + 152]
        stp     x21, x22, [x0, #OUT_REGS + 168]
        stp     x23, x24, [x0, #OUT_REGS + 184]
        stp     x25, x26, [x0, #OUT_REGS + 200]
        stp     x27, x28, [x0, #OUT_REGS + 216]
        stp     x29, x30, [x0, #OUT_REGS + 232]
        mov     x1, sp
        str     x1, [x0, #OUT_REGS + 248]
        mrs     x1, nzcv
        str     x1, [x0, #OUT_REGS + 256]
        mrs     x1, fpcr
        str     x1, [x0, #OUT_REGS + 264]
        mrs     x1, fpsr
        str     x1, [x0, #OUT_REGS + 272]
        mrs     x1, tpidr_el0
        str     x1, [x0, #OUT_REGS]
        add     x1, x0, #OUT_V
        stp     q0, q1, [x1, #0]
        stp     q2, q3, [x1, #32]
        stp     q4, q5, [x1, #64]
        stp     q6, q7, [x1, #96]
        stp     q8, q9, [x1, #128]
        stp     q10, q11, [x1, #160]
        stp     q12, q13, [x1, #192]
        stp     q14, q15, [x1, #224]
        stp     q16, q17, [x1, #256]
        stp     q18, q19, [x1, #288]
        stp     q20, q21, [x1, #320]
        stp     q22, q23, [x1, #352]
        stp     q24, q25, [x1, #384]
        stp     q26, q27, [x1, #416]
        stp     q28, q29, [x1, #448]
        stp     q30, q31, [x1, #480]
finish:
        adrp    x1, saved_sp
        ldr     x1, [x1, :lo12:saved_sp]
        mov     sp, x1
        msr     fpcr, xzr
        adrp    x21, outbuf
        add     x21, x21, :lo12:outbuf
        // Window out, then the record.
        ldr     x1, =WIN
        ldr     x0, =OUT_WIN
        add     x0, x21, x0
        mov     x2, #WSIZE
7:      ldp     x3, x4, [x1], #16
        stp     x3, x4, [x0], #16
        subs    x2, x2, #16
        b.ne    7b
        mov     x0, #1
        mov     x1, x21
        ldr     x2, =OUT_SIZE
        mov     x8, #64
        svc     #0
        ldr     x2, =OUT_SIZE
        cmp     x0, x2
        b.ne    fail
        b       next_case

// Signal handler (SA_SIGINFO | SA_ONSTACK | SA_NODEFER): record the signal
// and its address, abandon the frame and finish the case.
handler:
        adrp    x3, outbuf
        add     x3, x3, :lo12:outbuf
        ldr     x4, [x1, #16]
        stp     x0, x4, [x3]
        b       finish

restorer:
        mov     x8, #139
        svc     #0

// install(x0 = signal): rt_sigaction(x0, &sigact, NULL, 8)
install:
        mov     x1, x19
        mov     x2, #0
        mov     x3, #8
        mov     x8, #134
        svc     #0
        cbnz    x0, fail
        ret

eof:
        cbnz    x20, fail
        mov     x0, #0
        mov     x8, #93
        svc     #0
fail:
        mov     x0, #99
        mov     x8, #93
        svc     #0
        .ltorg

        .data
        .balign 16
sigact: .quad   0                       // handler
        .quad   0x4c000004              // SA_SIGINFO|SA_RESTORER|SA_ONSTACK|SA_NODEFER
        .quad   0                       // restorer
        .quad   0                       // mask
altstack_t:
        .quad   0
        .quad   0
        .quad   ALTSIZE

        .bss
        .balign 16
saved_sp: .skip 16
inbuf:  .skip IN_SIZE
        .balign 16
outbuf: .skip OUT_SIZE
        .balign 16
altstack: .skip ALTSIZE
