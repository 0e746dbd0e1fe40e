// A tiny guest JIT: generates arm64 code at run time, runs it, rewrites it
// in place and runs it again, the way V8, LuaJIT or a JVM do. Exercises
// translation invalidation (IC IVAU via __builtin___clear_cache, mprotect
// and munmap/mmap of code) and indirect calls into generated code.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

// movz w0, #imm ; ret
static void emit_const(uint32_t *p, uint16_t imm) {
    p[0] = 0x52800000u | ((uint32_t)imm << 5);
    p[1] = 0xd65f03c0u;
}

// add w0, w0, #imm ; ret
static void emit_add(uint32_t *p, uint16_t imm) {
    p[0] = 0x11000000u | ((uint32_t)(imm & 0xfff) << 10);
    p[1] = 0xd65f03c0u;
}

typedef int (*fn0)(void);

static sigjmp_buf fault_jmp;
static volatile void *fault_addr;
static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    fault_addr = si->si_addr;
    siglongjmp(fault_jmp, 1);
}
typedef int (*fn1)(int);

int main(void) {
    size_t page = 4096;
    uint32_t *code = mmap(0, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(code != MAP_FAILED, "mmap rwx");

    // 1. Rewrite in place with cache maintenance, many times (the code
    //    stays hot between rewrites, so stale translations would show).
    for (int round = 0; round < 200; round++) {
        emit_const(code, (uint16_t)(round * 3 + 1));
        __builtin___clear_cache((char *)code, (char *)(code + 2));
        int sum = 0;
        for (int i = 0; i < 50; i++) sum += ((fn0)code)();
        CHECK(sum == 50 * (round * 3 + 1), "round %d: got %d", round, sum);
    }

    // 2. W^X style: write while RW, then mprotect to RX and call.
    uint32_t *wx = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int k = 1; k <= 20; k++) {
        mprotect(wx, page, PROT_READ | PROT_WRITE);
        emit_add(wx, (uint16_t)k);
        mprotect(wx, page, PROT_READ | PROT_EXEC);
        CHECK(((fn1)wx)(100) == 100 + k, "mprotect round %d", k);
    }

    // 3. Unmap and map new code at the same address.
    void *addr = wx;
    munmap(wx, page);
    uint32_t *again = mmap(addr, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(again == addr, "remap at the same address");
    emit_const(again, 4242);
    __builtin___clear_cache((char *)again, (char *)(again + 2));
    CHECK(((fn0)again)() == 4242, "code after munmap/mmap");

    // 4. Many distinct generated functions called through a table.
    uint32_t *many = mmap(0, 64 * 1024, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int f = 0; f < 512; f++) emit_const(many + 2 * f, (uint16_t)f);
    __builtin___clear_cache((char *)many, (char *)(many + 1024));
    long total = 0;
    for (int rep = 0; rep < 20; rep++)
        for (int f = 0; f < 512; f++) total += ((fn0)(many + 2 * f))();
    CHECK(total == 20L * (511 * 512 / 2), "table of generated functions: %ld", total);

    // 5. Code in memory mapped without PROT_EXEC must not run: SIGSEGV at
    //    the branch target, as on hardware.
    uint32_t *noexec = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    emit_const(noexec, 7);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    if (sigsetjmp(fault_jmp, 1) == 0) {
        int r = ((fn0)noexec)();
        CHECK(0, "executed code from a non-executable page (returned %d)", r);
    } else {
        CHECK(fault_addr == (void *)noexec, "fault address %p, want %p", (void *)fault_addr, (void *)noexec);
    }

    if (failures == 0) printf("selfmod ok\n");
    return failures != 0;
}
