#!/usr/bin/env python3
"""Generates cases.rs: results of the Armv8.1-8.4 user-level instructions
(LSE atomics, CRC32, crypto, the AdvSIMD saturating/by-element/estimate
forms, dot product, RDM) recorded under qemu-aarch64, the oracle for
tests/isa_qemu.rs.

Each case runs one instruction on V0-V3, X0-X3, NZCV, FPCR and a 32-byte
memory area addressed by X5, loaded from the case's inputs, and records
V0-V3, X0-X3, NZCV, FPSR and the memory afterwards (the harness is
../common/qemu_oracle.py). Run from this directory:
    python3 gen_cases.py > cases.rs
"""
import json
from cases_list import CASES
from qemu_oracle import NZCV_IN, run, hexes, generate

MARCH = '-march=armv8.4-a+crypto+sha3+fp16+rcpc'

def render(asm, inp, fpcr):
    r = run(asm, inp, fpcr, march=MARCH, with_mem=True)
    return ("    Case { asm: %s, insn: %#010x, v_in: [%s], x_in: [%s], nzcv_in: %#x, fpcr: %#x, mem_in: [%s],\n"
            "        v_out: [%s], x_out: [%s], nzcv_out: %#x, fpsr_out: %#x, mem_out: [%s] },") % (
        json.dumps(asm), r['word'], hexes(r['v_in']), hexes(inp['x']), NZCV_IN, fpcr, hexes(r['mem_in']),
        hexes(r['v_out']), hexes(r['x_out']), r['nzcv_out'], r['fpsr_out'], hexes(r['mem_out']))

generate([(c[0], c[1], c[2] if len(c) > 2 else 0) for c in CASES], render)
