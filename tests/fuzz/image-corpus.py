#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz-image (tests/fuzz/corpus/image/): small valid qcow2, VHDX and
VHD images made by vmcompose and by qemu-img, and truncated ones, each under 64 KiB.

Images larger than that are written in fuzz-image's sparse form ("VMCSPARS", u32 file size,
then u32 offset + u16 length + bytes segments over zeros) with their guest data left out: the
readers look at the metadata only.

Usage: image-corpus.py VMCOMPOSE OUTDIR   (run from the source tree's top directory; needs
qemu-img, qemu-io and zstd)
"""
import os
import random
import struct
import subprocess
import sys
import tempfile

MAX = 64 * 1024


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def qcow2_data_clusters(b):
    """Host offsets of the data clusters a qcow2 image's L2 tables point to."""
    bits = struct.unpack(">I", b[20:24])[0]
    cs = 1 << bits
    l1_size, l1_off = struct.unpack(">IQ", b[36:48])
    esz = 16 if len(b) >= 80 and struct.unpack(">Q", b[72:80])[0] & 16 else 8
    data = set()
    for i in range(l1_size):
        l2 = struct.unpack(">Q", b[l1_off + 8 * i:l1_off + 8 * i + 8])[0] & 0x00FFFFFFFFFFFE00
        if not l2:
            continue
        for j in range(cs // esz):
            e = struct.unpack(">Q", b[l2 + j * esz:l2 + j * esz + 8])[0]
            off = e & 0x00FFFFFFFFFFFE00
            if off and not e & (1 << 62):
                data.add((off, cs))
    return data


def vhdx_payload_blocks(b):
    """File ranges of the payload blocks of a VHDX image (from the BAT at the region table's
    offset; block size from the metadata)."""
    t = b[192 * 1024:256 * 1024]
    n = struct.unpack("<I", t[8:12])[0]
    regions = [struct.unpack("<QI", t[16 + 32 * i + 16:16 + 32 * i + 28]) for i in range(n)]
    # The BAT is the region whose GUID starts 66 77 C2 2D (2DC27766-...).
    bat = next(r for i, r in enumerate(regions) if t[16 + 32 * i:16 + 32 * i + 4] == b"\x66\x77\xc2\x2d")
    meta = next(r for i, r in enumerate(regions) if t[16 + 32 * i:16 + 32 * i + 4] == b"\x06\xa2\x7c\x8b")
    m = b[meta[0]:meta[0] + 64 * 1024]
    block = None
    for i in range(struct.unpack("<H", m[10:12])[0]):
        e = m[32 + 32 * i:64 + 32 * i]
        if e[:4] == b"\x37\x67\xa1\xca":  # file parameters
            off = struct.unpack("<I", e[16:20])[0]
            block = struct.unpack("<I", b[meta[0] + off:meta[0] + off + 4])[0]
    out = set()
    for k in range(bat[1] // 8):
        e = struct.unpack("<Q", b[bat[0] + 8 * k:bat[0] + 8 * k + 8])[0]
        if e & 7 in (6, 7):
            out.add(((e >> 20) << 20, block))
    return out


def sparse(b, skip=(), size=None):
    """b in the sparse form, leaving out the ranges in skip; size: the file size to claim."""
    keep = bytearray(b)
    for off, length in skip:
        keep[off:off + length] = bytes(min(length, max(0, len(b) - off)))
    out = bytearray(b"VMCSPARS" + struct.pack("<I", len(b) if size is None else size))
    i = 0
    while i < len(keep):
        if keep[i] == 0:
            i += 1
            continue
        j = i
        zeros = 0
        while j < len(keep) and j - i < 65535 and zeros < 16:
            zeros = zeros + 1 if keep[j] == 0 else 0
            j += 1
        j -= zeros
        out += struct.pack("<IH", i, j - i) + keep[i:j]
        i = j
    return bytes(out)


def write(outdir, name, data):
    assert len(data) < MAX, (name, len(data))
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def main():
    vmc, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    rnd = random.Random(12)
    with tempfile.TemporaryDirectory() as t:
        raw = os.path.join(t, "small.raw")
        with open(raw, "wb") as f:
            f.truncate(256 * 1024)
            for off in (0, 5000, 70000, 200000):
                f.seek(off)
                f.write(bytes(rnd.randrange(1, 256) for _ in range(700)))

        def qemu_img(name, *opts):
            p = os.path.join(t, name)
            run("qemu-img", "convert", "-f", "raw", raw, *opts, p)
            return open(p, "rb").read(), p

        # Small qcow2 images as they are: 512-byte clusters keep them to a few KiB.
        q, qp = qemu_img("c512.qcow2", "-O", "qcow2", "-o", "cluster_size=512")
        write(outdir, "qcow2-512", q)
        for cut in (60, 112, 600, 1600, len(q) - 1000):
            write(outdir, "qcow2-512-cut-%d" % cut, q[:cut])
        v2, _ = qemu_img("v2.qcow2", "-O", "qcow2", "-o", "cluster_size=512,compat=0.10")
        write(outdir, "qcow2-v2", v2)
        run("qemu-img", "snapshot", "-c", "first", qp)
        write(outdir, "qcow2-snapshot", open(qp, "rb").read())
        bp = os.path.join(t, "b.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", raw, "-F",
            "raw", bp)
        write(outdir, "qcow2-backing", open(bp, "rb").read())
        zp = os.path.join(t, "z.qcow2")
        run("qemu-img", "convert", "-c", "-f", "raw", raw, "-O", "qcow2", "-o", "cluster_size=4096", zp)
        write(outdir, "qcow2-compressed", sparse(open(zp, "rb").read()))
        e, _ = qemu_img("e.qcow2", "-O", "qcow2", "-o", "cluster_size=16384,extended_l2=on")
        write(outdir, "qcow2-extended-l2", sparse(e, qcow2_data_clusters(e)))

        x, _ = qemu_img("q.vhdx", "-O", "vhdx")
        write(outdir, "vhdx-qemu", sparse(x, vhdx_payload_blocks(x)))
        with open(raw, "r+b") as f:
            f.truncate(1 << 20)  # a VHD for Azure is a whole number of MiB
        v, _ = qemu_img("q.vhd", "-O", "vpc", "-o", "subformat=fixed,force_size=on")
        write(outdir, "vhd-qemu-fixed", sparse(v))
        d, _ = qemu_img("d.vhd", "-O", "vpc")
        write(outdir, "vhd-qemu-dynamic", sparse(d))
        write(outdir, "vhd-qemu-dynamic-cut", d[:2048] + d[-512:])  # a block past the footer

        # vmcompose's own outputs of a small disk.
        root, esp = os.path.join(t, "root"), os.path.join(t, "esp")
        os.makedirs(os.path.join(root, "etc"))
        os.makedirs(os.path.join(esp, "EFI", "BOOT"))
        open(os.path.join(root, "etc", "motd"), "w").write("hello\n")
        open(os.path.join(esp, "EFI", "BOOT", "BOOTX64.EFI"), "w").write("efi\n")
        run(vmc, "-q", "build", "tests/output/formats.yaml", "--root", root, "--esp", esp, "-o",
            os.path.join(t, "out"))
        a = os.path.join(t, "out", "formats")
        q = open(a + ".qcow2", "rb").read()
        data = qcow2_data_clusters(q)
        write(outdir, "qcow2-vmcompose", sparse(q, data))
        write(outdir, "qcow2-vmcompose-cut", sparse(q[:len(q) - 3 * 65536], data))
        x = open(a + ".vhdx", "rb").read()
        blocks = vhdx_payload_blocks(x)
        write(outdir, "vhdx-vmcompose", sparse(x, blocks))
        for cut in (300000, (3 << 20) + 4, len(x) - 4096):
            write(outdir, "vhdx-vmcompose-cut-%d" % cut, sparse(x[:cut], blocks))
        v = open(a + ".vhd", "rb").read()
        write(outdir, "vhd-vmcompose-footer-only", v[-512:])
        # Its footer, for a disk of 1 MiB (fuzz-image's sparse files stop at 16 MiB).
        f = bytearray(v[-512:])
        f[40:56] = struct.pack(">QQ", 1 << 20, 1 << 20)
        f[64:68] = bytes(4)
        f[64:68] = struct.pack(">I", ~sum(f) & 0xFFFFFFFF)
        write(outdir, "vhd-vmcompose-1m", b"VMCSPARS" + struct.pack("<IIH", (1 << 20) + 512, 1 << 20, 512) + f)
        zp = os.path.join(t, "s.raw.zst")
        run("zstd", "-q", "-o", zp, raw)
        write(outdir, "raw-zst", open(zp, "rb").read())
    write(outdir, "random-4k", bytes(rnd.randrange(256) for _ in range(4096)))


if __name__ == "__main__":
    main()
