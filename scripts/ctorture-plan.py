#!/usr/bin/env python3
"""Plan the GCC c-torture execute tests for aarch64-linux-gnu.

Used by scripts/ctorture.sh; prints one line per (option set, test):

    OPTNAME <TAB> ID <TAB> compile|skip <TAB> FLAGS-or-REASON <TAB> SOURCES

ID is suite/name (suite = execute, ieee or builtins). FLAGS are the option
set's flags followed by the
options the gcc testsuite's .exp files and the test's own dg- directives ask
for on aarch64-unknown-linux-gnu (roughly: DejaGnu selectors are evaluated
for that triplet, effective targets are looked up in a fixed table of what
holds on glibc/aarch64). SOURCES are the files to compile together.

    ctorture-plan.py SRCDIR EVERY FILTER OPTNAME=FLAGS...

FILTER is a regular expression (Python re.search; empty keeps all) on IDs;
then EVERY = 1 keeps every test left, N > 1 every Nth by sorted ID.
"""

import os
import re
import sys

TRIPLET = "aarch64-unknown-linux-gnu"

# Effective targets true on aarch64 glibc Linux (what the directives in
# execute/ ask about); anything not listed counts as false (freestanding,
# ia32, newlib_nano_io, vxworks_kernel, dfp, ...).
TRUE_TARGETS = {
    "alloca", "signal", "fpic", "int32plus", "int32", "label_values",
    "trampolines", "indirect_jumps", "untyped_assembly", "return_address",
    "fileio", "c99_runtime", "mmap", "int128", "double64plus", "longlong64",
    "stdint_types", "unwrapped", "nonlocal_goto", "lp64", "large_double",
    "ptr32plus", "size32plus", "non_strict_align", "weak", "alias",
}

# Flags each suite's .exp adds to every test (see execute.exp,
# ieee/ieee.exp, builtins/builtins.exp). dg-options of a test are appended.
SUITE_FLAGS = {
    "execute": ["-w"],
    "ieee": ["-w", "-fno-inline"],
    "builtins": ["-w", "-fno-tree-dse", "-fno-tree-loop-distribute-patterns",
                 "-fno-tracer", "-fno-ipa-ra", "-fno-inline-functions",
                 # As builtins.exp does for targets with a static libc: the
                 # -lib.c files redefine memchr, strlen, ... that libc.a has.
                 "-Wl,--allow-multiple-definition"],
}


def tcl_words(s):
    """Splits a Tcl-ish list into words: "quoted", {braced} (nested), bare."""
    words, i, n = [], 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c == '"':
            j = s.find('"', i + 1)
            j = n if j < 0 else j
            words.append(s[i + 1:j])
            i = j + 1
        elif c == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"{": 1, "}": -1}.get(s[j], 0)
                j += 1
            words.append(s[i + 1:j - 1])
            i = j
        else:
            j = i
            while j < n and not s[j].isspace() and s[j] not in '{"':
                j += 1
            words.append(s[i:j])
            i = j
    return words


def selector(sel):
    """Evaluates a DejaGnu target selector for TRIPLET."""
    w = tcl_words(sel.strip())
    if not w:
        return False
    if w[0] == "target":
        return selector(" ".join("{%s}" % x for x in w[1:]))
    if w[0] == "!":
        return not selector(" ".join("{%s}" % x for x in w[1:]))
    if "&&" in w:
        parts, cur = [], []
        for x in w:
            if x == "&&":
                parts.append(cur)
                cur = []
            else:
                cur.append(x)
        parts.append(cur)
        return all(selector(" ".join("{%s}" % x for x in p)) for p in parts)
    if "||" in w:
        return any(selector("{%s}" % x) for x in w if x != "||")
    if len(w) > 1:
        return any(selector("{%s}" % x) for x in w)
    x = w[0].strip()
    if x != w[0] or " " in x or "{" in x:
        return selector(x)
    if "-" in x or "*" in x:
        return re.fullmatch(glob_re(x), TRIPLET) is not None
    return x in TRUE_TARGETS


def glob_re(g):
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in g)


def opts_match(patterns, flags):
    """DejaGnu include/exclude option lists: does any pattern match a flag?"""
    for p in tcl_words(patterns):
        if p == "":
            continue
        if p == "*":
            return True
        if any(re.fullmatch(glob_re(p), f) for f in flags):
            return True
        if " " in p and p in " ".join(flags):
            return True
    return False


DIRECTIVE = re.compile(r"\{\s*(dg-[a-z-]+)\s*(.*)\}")


def directives(path):
    with open(path, errors="replace") as f:
        for line in f:
            if "dg-" not in line:
                continue
            m = DIRECTIVE.search(line)
            if m:
                yield m.group(1), tcl_words(m.group(2))


def x_file_flags(xfile, flags):
    """Unconditional `lappend/set additional_flags` of a c-torture .x file."""
    if not os.path.exists(xfile):
        return flags
    with open(xfile) as f:
        for line in f:
            m = re.match(r"(lappend|set) additional_flags (.*)", line)
            if m:
                new = tcl_words(m.group(2))
                flags = flags + new if m.group(1) == "lappend" else new
    return flags


def plan_test(srcdir, suite, name, optflags):
    """Returns ('skip', reason, []) or ('compile', flags, sources)."""
    base = os.path.join(srcdir, "" if suite == "execute" else suite)
    src = os.path.join(base, name + ".c")
    flags = list(SUITE_FLAGS[suite])
    srcs = [src]
    if suite == "builtins":
        lib = os.path.join(base, name + "-lib.c")
        if os.path.exists(lib):
            srcs.append(lib)
        srcs.append(os.path.join(base, "lib", "main.c"))
    if suite in ("ieee", "builtins"):
        # c-torture-execute: .x files may replace or extend additional_flags.
        extra = x_file_flags(os.path.join(base, name + ".x"), flags)
        flags = extra
    all_flags = optflags + flags
    for d, args in directives(src):
        if d in ("dg-options", "dg-additional-options"):
            if not args:
                continue
            if len(args) > 1 and not selector(args[1]):
                continue
            flags += tcl_words(args[0])
        elif d == "dg-skip-if":
            # { dg-skip-if "msg" { selector } [{ include }] [{ exclude }] }
            if len(args) < 2 or not selector(args[1]):
                continue
            inc = args[2] if len(args) > 2 else "*"
            exc = args[3] if len(args) > 3 else ""
            if opts_match(inc, all_flags) and not opts_match(exc, all_flags):
                return "skip", "dg-skip-if: " + args[0], []
        elif d == "dg-require-effective-target":
            if args and not selector(args[0]) and (
                len(args) < 2 or selector(args[1])
            ):
                return "skip", "needs effective target " + args[0], []
    return "compile", flags, srcs


def tests(srcdir):
    out = []
    for suite, sub in (("execute", ""), ("ieee", "ieee"), ("builtins", "builtins")):
        d = os.path.join(srcdir, sub)
        for f in os.listdir(d):
            if f.endswith(".c") and not f.endswith("-lib.c"):
                out.append("%s/%s" % (suite, f[:-2]))
    return sorted(out)


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: ctorture-plan.py SRCDIR EVERY FILTER OPTNAME=FLAGS...")
    srcdir, every, filt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    optsets = [a.split("=", 1) for a in sys.argv[4:]]
    ids = [t for t in tests(srcdir) if re.search(filt, t)]
    if every > 1:
        ids = ids[::every]
    for optname, optflags in optsets:
        of = optflags.split()
        for tid in ids:
            suite, name = tid.split("/", 1)
            kind, what, srcs = plan_test(srcdir, suite, name, of)
            if kind == "skip":
                print("\t".join([optname, tid, "skip", what, ""]))
            else:
                flags = " ".join(of + what)
                print("\t".join([optname, tid, "compile", flags, " ".join(srcs)]))


if __name__ == "__main__":
    main()
