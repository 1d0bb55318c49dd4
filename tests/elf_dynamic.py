#!/usr/bin/env python3
"""tests/elf_dynamic.py - an ELF file's dynamic section, read without binutils.

  elf_dynamic.py soname LIB            prints LIB's DT_SONAME (exit 1 if none)
  elf_dynamic.py needed FILE           prints FILE's DT_NEEDED entries, one a line
  elf_dynamic.py not-needed FILE RE... fails (exit 1) when a DT_NEEDED entry of
                                       FILE matches one of the regular expressions

meson.build runs `soname` at configure time on the libgit2.so / libical.so that
pkg-config points at, so the names gavel dlopen()s are the build's own; the
test "not-linked" runs `not-needed` on build/gavel: libical and libgit2 are
loaded only when a series or a git wiki is configured (util/recur.c,
bridge/publish_git.c), and must never come back as link-time dependencies.
"""
import re
import struct
import sys

DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME = 0, 1, 5, 14
PT_LOAD, PT_DYNAMIC = 1, 2


def dynamic(path):
    """(needed list, soname or None) from the PT_DYNAMIC segment of path."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path}: not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
        ph_fmt, dyn_fmt = end + "IIQQQQQQ", end + "qQ"
    else:
        phoff, = struct.unpack_from(end + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
        ph_fmt, dyn_fmt = end + "IIIIIIII", end + "iI"
    loads, dyn = [], None
    for i in range(phnum):
        f = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
        if is64:
            p_type, _, p_offset, p_vaddr, _, p_filesz = f[0], f[1], f[2], f[3], f[4], f[5]
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = f[0], f[1], f[2], f[3], f[4]
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dyn = (p_offset, p_filesz)
    if dyn is None:
        return [], None         # a static executable: it needs nothing

    def file_offset(vaddr):
        for v, o, n in loads:
            if v <= vaddr < v + n:
                return vaddr - v + o
        raise ValueError(f"{path}: address {vaddr:#x} is in no loaded segment")

    entries, strtab = [], None
    size = struct.calcsize(dyn_fmt)
    for off in range(dyn[0], dyn[0] + dyn[1], size):
        tag, val = struct.unpack_from(dyn_fmt, data, off)
        if tag == DT_NULL:
            break
        if tag == DT_STRTAB:
            strtab = file_offset(val)
        entries.append((tag, val))
    if strtab is None:
        raise ValueError(f"{path}: a dynamic section without a string table")

    def string(i):
        return data[strtab + i:data.index(b"\0", strtab + i)].decode()

    needed = [string(v) for t, v in entries if t == DT_NEEDED]
    sonames = [string(v) for t, v in entries if t == DT_SONAME]
    return needed, sonames[0] if sonames else None


def main(argv):
    if len(argv) < 3 or argv[1] not in ("soname", "needed", "not-needed"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        needed, soname = dynamic(argv[2])
    except (OSError, ValueError, struct.error) as e:
        print(f"elf_dynamic: {e}", file=sys.stderr)
        return 2
    if argv[1] == "soname":
        if not soname:
            print(f"elf_dynamic: {argv[2]} has no DT_SONAME", file=sys.stderr)
            return 1
        print(soname)
        return 0
    if argv[1] == "needed":
        print("\n".join(needed))
        return 0
    # not-needed: the reading itself must have worked (every dynamic
    # executable gavel builds needs libc), or this test could not fail
    if not any(n.startswith("libc.so") for n in needed):
        print(f"elf_dynamic: {argv[2]}: no libc.so among DT_NEEDED {needed}: "
              "the dynamic section was not read", file=sys.stderr)
        return 2
    bad = [n for n in needed for pat in argv[3:] if re.search(pat, n)]
    for n in bad:
        print(f"{argv[2]}: DT_NEEDED {n}: must be dlopen()ed when needed, not linked",
              file=sys.stderr)
    if not bad:
        print(f"{argv[2]}: DT_NEEDED {' '.join(needed)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
