// The arm64 signal frame of synchronous faults: siginfo, ucontext,
// sigcontext registers, fpsimd_context and esr_context, as Linux lays
// them out; handlers resume by editing the ucontext.
#define _GNU_SOURCE
#include <asm/sigcontext.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static int failures;
#define CHECK(c, ...)                                                         \
    do {                                                                      \
        if (!(c)) {                                                           \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                       \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            failures++;                                                       \
        }                                                                     \
    } while (0)

struct seen {
    int sig, code;
    uint64_t addr, pc, fault_address, esr, x19, x28, sp;
    int has_fpsimd, has_esr;
    __uint128_t v8;
    uint64_t mask, inner;
};
static volatile struct seen seen;

static void handler(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    struct sigcontext *mc = (struct sigcontext *)&uc->uc_mcontext;
    seen.sig = sig;
    seen.code = si->si_code;
    seen.addr = (uint64_t)si->si_addr;
    seen.pc = mc->pc;
    seen.fault_address = mc->fault_address;
    seen.x19 = mc->regs[19];
    seen.x28 = mc->regs[28];
    seen.sp = mc->sp;
    seen.has_fpsimd = seen.has_esr = 0;
    seen.esr = 0;
    memcpy((void *)&seen.mask, &uc->uc_sigmask, 8);
    sigset_t inner;
    sigprocmask(SIG_BLOCK, NULL, &inner);
    memcpy((void *)&seen.inner, &inner, 8);
    struct _aarch64_ctx *head = (struct _aarch64_ctx *)mc->__reserved;
    while (head->magic) {
        if (head->magic == FPSIMD_MAGIC) {
            struct fpsimd_context *fp = (struct fpsimd_context *)head;
            seen.has_fpsimd = head->size == sizeof(*fp);
            seen.v8 = fp->vregs[8];
        } else if (head->magic == ESR_MAGIC) {
            seen.has_esr = head->size == sizeof(struct esr_context);
            seen.esr = ((struct esr_context *)head)->esr;
        }
        head = (struct _aarch64_ctx *)((char *)head + head->size);
    }
    // Skip the faulting instruction and mark x19 as seen by the handler.
    mc->pc += 4;
    mc->regs[20] = 0x2020;
}

// Runs `insn` at a known address with x19/x28/v8 set; returns its pc and x20.
#define FAULT_AT(insn, addr_reg_value, pc_out, x20_out)                       \
    __asm__ volatile("mov x19, #0x1919\n"                                     \
                     "mov x28, #0x2828\n"                                     \
                     "mov x20, #0\n"                                          \
                     "movi v8.16b, #0x88\n"                                   \
                     "mov x0, %2\n"                                           \
                     "adr %0, 1f\n"                                           \
                     "1: " insn "\n"                                          \
                     "mov %1, x20\n"                                          \
                     : "=&r"(pc_out), "=r"(x20_out)                           \
                     : "r"(addr_reg_value)                                    \
                     : "x0", "x19", "x20", "x28", "v8", "memory")

int main(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    uint64_t pc, x20;

    // Read of an unmapped address: SEGV_MAPERR, EC 0x24, WnR clear.
    FAULT_AT("ldr x1, [x0]", 0x1230UL, pc, x20);
    CHECK(seen.sig == SIGSEGV, "sig %d", seen.sig);
    CHECK(seen.code == SEGV_MAPERR, "code %d", seen.code);
    CHECK(seen.addr == 0x1230, "si_addr %#lx", seen.addr);
    CHECK(seen.fault_address == 0x1230, "fault_address %#lx", seen.fault_address);
    CHECK(seen.pc == pc, "pc %#lx want %#lx", seen.pc, pc);
    CHECK(x20 == 0x2020, "resumed after the fault with x20 %#lx", x20);
    CHECK(seen.x19 == 0x1919 && seen.x28 == 0x2828, "x19 %#lx x28 %#lx", seen.x19, seen.x28);
    CHECK(seen.has_fpsimd, "fpsimd_context");
    CHECK(seen.v8 == ((__uint128_t)0x8888888888888888ULL << 64 | 0x8888888888888888ULL), "v8");
    CHECK(seen.has_esr, "esr_context");
    CHECK((seen.esr >> 26) == 0x24, "esr EC %#lx", seen.esr);
    CHECK(!(seen.esr & (1 << 6)), "esr WnR set on a read");
    CHECK(seen.inner & (1UL << (SIGUSR2 - 1)), "sa_mask not in the handler's mask");
    CHECK(seen.inner & (1UL << (SIGSEGV - 1)), "the signal itself not blocked in its handler");
    CHECK(!(seen.mask & (1UL << (SIGSEGV - 1))), "uc_sigmask is the interrupted mask");

    // Write to a read-only page: SEGV_ACCERR, WnR set.
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FAULT_AT("str x1, [x0]", (uint64_t)ro + 8, pc, x20);
    CHECK(seen.code == SEGV_ACCERR, "code %d", seen.code);
    CHECK(seen.addr == (uint64_t)ro + 8, "si_addr %#lx", seen.addr);
    CHECK(seen.esr & (1 << 6), "esr WnR clear on a write: %#lx", seen.esr);
    CHECK(seen.pc == pc, "pc");

    // BRK: SIGTRAP TRAP_BRKPT, si_addr = pc, ESR EC 0x3c with the immediate.
    FAULT_AT("brk #0x42", 0UL, pc, x20);
    CHECK(seen.sig == SIGTRAP && seen.code == TRAP_BRKPT, "sig %d code %d", seen.sig, seen.code);
    CHECK(seen.addr == pc && seen.pc == pc, "brk pc");
    CHECK(seen.has_esr && seen.esr == ((0x3cUL << 26) | (1 << 25) | 0x42), "brk esr %#lx", seen.esr);
    CHECK(seen.fault_address == 0, "brk fault_address %#lx", seen.fault_address);

    // Undefined instruction: SIGILL ILL_ILLOPC, no esr_context.
    FAULT_AT(".inst 0x00000000", 0UL, pc, x20);
    CHECK(seen.sig == SIGILL && seen.code == ILL_ILLOPC, "sig %d code %d", seen.sig, seen.code);
    CHECK(seen.addr == pc && seen.pc == pc, "udf pc");
    CHECK(!seen.has_esr, "esr_context for SIGILL");

    // SA_RESETHAND: the second fault kills... check the disposition only.
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    FAULT_AT("ldr x1, [x0]", 0x40UL, pc, x20);
    struct sigaction cur;
    sigaction(SIGSEGV, NULL, &cur);
    CHECK(cur.sa_handler == SIG_DFL, "SA_RESETHAND left the handler installed");

    if (failures)
        return 1;
    printf("sigframe ok\n");
    return 0;
}
