#!/usr/bin/env python3
"""spec/fuzz/loader-seeds.py SNAPSHOT -- writes the loader's seed corpus
(spec/fuzz/loader-corpus) from one small saved snapshot (a capture of a
sleep with memory_usage, saved): the file itself, the same with saved
memory sections, hostile variants with checksums that still hold (so that
the loader's own checks, not the CRC, meet them), and a small x86-64 ELF
core made here. The snapshot's files are named after its format's major
version ("v2-snapshot.pss") and replace only that version's: the files of
older versions stay, so that every build reads what older builds wrote."""
import struct, sys, zlib, os

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loader-corpus")
HDR, SEC = 24, 24

def sections(b):
    off, out = HDR, []
    while off + SEC <= len(b):
        typ, tid, ln = struct.unpack_from("<IIQ", b, off)
        out.append((off, typ, tid, ln))
        off += SEC + ln
    return out

def section(typ, payload, tid=0, length=None):
    ln = len(payload) if length is None else length
    h = struct.pack("<IIQI", typ, tid, ln, zlib.crc32(payload))
    return h + struct.pack("<I", zlib.crc32(h)) + payload

def reseal(b, off):
    typ, tid, ln = struct.unpack_from("<IIQ", b, off)
    payload = bytes(b[off + SEC: off + SEC + ln])
    struct.pack_into("<I", b, off + 16, zlib.crc32(payload))
    struct.pack_into("<I", b, off + 20, zlib.crc32(bytes(b[off:off + 20])))

# where a region row's pointers are (PSS_LINUX_VA_SPACE_ENTRY)
ROW_PATH, ROW_USAGE = 112, 160

def put(name, data):
    with open(os.path.join(DIR, name), "wb") as f:
        f.write(bytes(data))

def before_end(b, extra):
    return b[:-SEC] + extra + b[-SEC:]

def memory_sections():
    base = 0x7f0000000000
    mem = section(5, struct.pack("<Q", base + 0x1000) + b"\xab" * 0x100)
    mem += section(5, struct.pack("<Q", base + 0x3000) + b"\xcd" * 0x40)
    ranges = section(6, struct.pack("<QQQQ", base, base + 0x2000, base + 0x3000, base + 0x4000))
    return mem + ranges

def core():
    """ELF header, PT_NOTE (NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE), one PT_LOAD."""
    def note(typ, desc, name=b"CORE\0"):
        pad = lambda n: (4 - n % 4) % 4
        return (struct.pack("<III", len(name), len(desc), typ) + name + b"\0" * pad(len(name))
                + desc + b"\0" * pad(len(desc)))
    prstatus = bytearray(336)
    struct.pack_into("<I", prstatus, 32, 4242)            # pr_pid
    struct.pack_into("<Q", prstatus, 112 + 16 * 8, 0x401000)   # pr_reg.rip
    struct.pack_into("<Q", prstatus, 112 + 19 * 8, 0x7fff0000)  # pr_reg.rsp
    psinfo = bytearray(136)
    struct.pack_into("<I", psinfo, 24, 4242)
    psinfo[40:40 + 5] = b"sleep"
    psinfo[56:56 + 9] = b"sleep 600"
    auxv = struct.pack("<QQQQ", 9, 0x401000, 0, 0)          # AT_ENTRY, AT_NULL
    files = struct.pack("<QQ", 1, 4096) + struct.pack("<QQQ", 0x400000, 0x401000, 0) + b"/bin/sleep\0"
    notes = (note(1, bytes(prstatus)) + note(3, bytes(psinfo)) + note(6, auxv)
             + note(0x46494c45, files))
    phoff, phnum = 64, 2
    notes_off = phoff + 56 * phnum
    data_off = (notes_off + len(notes) + 4095) & ~4095
    eh = bytearray(64)
    eh[0:16] = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    struct.pack_into("<HHIQQQIHHHHHH", eh, 16, 4, 62, 1, 0, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), 0, 4)
    ph += struct.pack("<IIQQQQQQ", 1, 5, data_off, 0x400000, 0, 4096, 4096, 4096)
    body = eh + ph + notes
    body += b"\0" * (data_off - len(body))
    page = bytearray(4096)
    page[0:4] = b"\x7fELF"
    return body + page

def main():
    b = bytearray(open(sys.argv[1], "rb").read())
    major = struct.unpack_from("<H", b, 8)[0]
    v = "v%d-" % major
    os.makedirs(DIR, exist_ok=True)
    for name in os.listdir(DIR):
        if name.startswith(v) or name.startswith("core-"):
            os.remove(os.path.join(DIR, name))
    put(v + "snapshot.pss", b)
    put(v + "snapshot-memory.pss", before_end(b, memory_sections()))
    put(v + "truncated-half.pss", b[:len(b) // 2])
    put(v + "truncated-header.pss", b[:20])
    flipped = bytearray(b)
    flipped[HDR + SEC + 8] ^= 0x10
    put(v + "bitflip-unsealed.pss", flipped)
    secs = sections(b)
    for off, typ, tid, ln in secs:
        if typ == 3:                      # a ROWS section: a row's pointer far out, resealed
            c = bytearray(b)
            struct.pack_into("<Q", c, off + SEC + 16 + ROW_PATH, 0x7fffffff)   # row 0: Path
            reseal(c, off)
            put(v + "rows-pointer-out-t%d.pss" % tid, c)
            for name, ref in (("out", 0x7fffffff), ("misaligned", 2)):   # row 0: Usage
                c = bytearray(b)
                struct.pack_into("<Q", c, off + SEC + 16 + ROW_USAGE, ref)
                reseal(c, off)
                put(v + "rows-usage-%s-t%d.pss" % (name, tid), c)
            c = bytearray(b)
            struct.pack_into("<Q", c, off + SEC, 1 << 40)   # a row count of 2^40
            reseal(c, off)
            put(v + "rows-count-huge-t%d.pss" % tid, c)
            break
    c = bytearray(b)
    struct.pack_into("<Q", c, HDR + 8, 1 << 62)          # the STORE section 2^62 bytes long
    struct.pack_into("<I", c, HDR + 20, zlib.crc32(bytes(c[HDR:HDR + 20])))
    put(v + "oversized-length.pss", c)
    c = bytearray(b)
    struct.pack_into("<H", c, 8, 0xffff)                    # a newer major
    struct.pack_into("<I", c, 20, zlib.crc32(bytes(c[:20])))
    put(v + "newer-major.pss", c)
    bad_ranges = section(5, struct.pack("<Q", 0x1000) + b"\1" * 16) + \
        section(6, struct.pack("<QQ", 0x5000, 0x6000))
    put(v + "memory-outside-ranges.pss", before_end(b, bad_ranges))
    k = core()
    put("core-small.core", k)
    put("core-truncated.core", k[:len(k) - 100])
    other = bytearray(k)
    struct.pack_into("<H", other, 18, 183)                  # EM_AARCH64
    put("core-aarch64.core", other)

main()
