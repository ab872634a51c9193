#!/usr/bin/python3
"""Writes the uncompressed source images of the decode-conformance corpus (python3 stdlib only).

Each source is a Part 10 file in explicit VR little endian, written byte by byte here so that
special layouts (1-bit, palette, YBR, planar, 32-bit, signed, multi-frame) are exactly what the
standard says, independent of any DICOM library. For layouts whose decoded form is not simply the
stored bytes, NAME.expected.raw holds the expected DecodeFrame output of frame 1 (interleaved
samples, little endian), computed here from the synthetic RGB/grey values.

usage: make_sources.py OUTDIR
"""
import math
import os
import struct
import sys
import uuid

ROWS, COLS = 100, 134  # not multiples of 8 or 16: exercises codec edge blocks


def uid():
    return "2.25.%d" % uuid.uuid4().int


def field(x, y, frame=0):
    """Smooth synthetic scene in [0, 1]: gradient, waves, a disk and a little texture."""
    v = 0.15 + 0.5 * x / COLS + 0.2 * math.sin(x / 9.0 + frame) * math.cos(y / 13.0)
    if (x - 80) ** 2 + (y - 45) ** 2 < 22 ** 2:
        v += 0.25
    v += 0.03 * (((x * 7919 + y * 104729 + frame * 31) % 97) / 97.0 - 0.5)
    return min(1.0, max(0.0, v))


def elem(group, element, vr, value):
    if isinstance(value, str):
        value = value.encode("ascii")
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH2s", group, element, vr.encode())
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN"):
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def us(v):
    return struct.pack("<H", v)


def write(path, attrs, pixel_bytes, pixel_vr, sop_class="1.2.840.10008.5.1.4.1.1.7"):
    """attrs: {(group, element): (vr, bytes-or-str)} for the image pixel module."""
    sop = uid()
    meta_body = (elem(2, 1, "OB", b"\0\1") + elem(2, 2, "UI", sop_class) + elem(2, 3, "UI", sop)
                 + elem(2, 0x10, "UI", "1.2.840.10008.1.2.1") + elem(2, 0x12, "UI", "1.2.826.0.1.3680043.9.7433.1")
                 + elem(2, 0x13, "SH", "IMGPIPE_TEST"))
    meta = elem(2, 0, "UL", struct.pack("<I", len(meta_body))) + meta_body
    base = {
        (0x0008, 0x0016): ("UI", sop_class), (0x0008, 0x0018): ("UI", sop),
        (0x0008, 0x0060): ("CS", "OT"), (0x0010, 0x0010): ("PN", "CORPUS^" + os.path.basename(path)[:-4].upper()),
        (0x0010, 0x0020): ("LO", "CORPUS"), (0x0020, 0x000D): ("UI", uid()),
        (0x0020, 0x000E): ("UI", uid()), (0x0020, 0x0013): ("IS", "1"),
        (0x0008, 0x0020): ("DA", "20240101"), (0x0008, 0x0064): ("CS", "WSD"),
    }
    base.update(attrs)
    base[(0x7FE0, 0x0010)] = (pixel_vr, pixel_bytes)
    body = b"".join(elem(g, e, vr, v) for (g, e), (vr, v) in sorted(base.items()))
    with open(path, "wb") as f:
        f.write(b"\0" * 128 + b"DICM" + meta + body)


def image_attrs(spp, photometric, bits, stored, signed, frames=1, planar=None):
    a = {(0x0028, 0x0002): ("US", us(spp)), (0x0028, 0x0004): ("CS", photometric),
         (0x0028, 0x0010): ("US", us(ROWS)), (0x0028, 0x0011): ("US", us(COLS)),
         (0x0028, 0x0100): ("US", us(bits)), (0x0028, 0x0101): ("US", us(stored)),
         (0x0028, 0x0102): ("US", us(stored - 1)), (0x0028, 0x0103): ("US", us(1 if signed else 0))}
    if frames > 1:
        a[(0x0028, 0x0008)] = ("IS", str(frames))
    if planar is not None:
        a[(0x0028, 0x0006)] = ("US", us(planar))
    return a


def grey(out, name, bits, stored, signed, lo, hi, frames=1, photometric="MONOCHROME2"):
    fmt = {8: "b" if signed else "B", 16: "<h" if signed else "<H", 32: "<i" if signed else "<I"}[bits]
    data = bytearray()
    for fr in range(frames):
        for y in range(ROWS):
            for x in range(COLS):
                data += struct.pack(fmt, int(round(lo + (hi - lo) * field(x, y, fr))))
    write(os.path.join(out, name + ".dcm"), image_attrs(1, photometric, bits, stored, signed, frames),
          bytes(data), "OB" if bits == 8 else "OW")


def rgb_value(x, y, fr=0):
    return (int(255 * field(x, y, fr)), int(255 * field(COLS - 1 - x, y, fr + 1)),
            int(255 * (0.5 + 0.4 * math.sin((x + y) / 11.0))))


def ybr(r, g, b):  # PS3.3 C.7.6.3.1.2 YBR_FULL, 8-bit
    c = lambda v: max(0, min(255, int(round(v))))
    return (c(0.299 * r + 0.587 * g + 0.114 * b), c(-0.168736 * r - 0.331264 * g + 0.5 * b + 128),
            c(0.5 * r - 0.418688 * g - 0.081312 * b + 128))


def ybr_to_rgb(y, cb, cr):
    c = lambda v: max(0, min(255, int(round(v))))
    return (c(y + 1.402 * (cr - 128)), c(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)),
            c(y + 1.772 * (cb - 128)))


def colour(out):
    px = [[rgb_value(x, y) for x in range(COLS)] for y in range(ROWS)]
    flat = bytes(v for row in px for p in row for v in p)
    write(os.path.join(out, "rgb8.dcm"), image_attrs(3, "RGB", 8, 8, False, planar=0), flat, "OB")
    planar = bytes(p[c] for c in range(3) for row in px for p in row)
    write(os.path.join(out, "rgb8_planar.dcm"), image_attrs(3, "RGB", 8, 8, False, planar=1), planar, "OB")
    with open(os.path.join(out, "rgb8_planar.expected.raw"), "wb") as f:
        f.write(flat)
    frames = [[[rgb_value(x, y, fr) for x in range(COLS)] for y in range(ROWS)] for fr in range(2)]
    write(os.path.join(out, "rgb8_mf.dcm"), image_attrs(3, "RGB", 8, 8, False, frames=2, planar=0),
          bytes(v for f in frames for row in f for p in row for v in p), "OB")
    # YBR_FULL: stored as YCbCr; the expected decode is the inverse transform of what is stored.
    yc = [[ybr(*p) for p in row] for row in px]
    write(os.path.join(out, "ybr_full.dcm"), image_attrs(3, "YBR_FULL", 8, 8, False, planar=0),
          bytes(v for row in yc for p in row for v in p), "OB")
    with open(os.path.join(out, "ybr_full.expected.raw"), "wb") as f:
        f.write(bytes(v for row in yc for p in row for v in ybr_to_rgb(*p)))
    # YBR_FULL_422: Y1 Y2 Cb Cr per horizontal pixel pair (PS3.3 C.7.6.3.1.2), chroma averaged.
    data, expected = bytearray(), bytearray()
    for row in yc:
        for i in range(0, COLS, 2):
            a, b = row[i], row[i + 1]
            cb, cr = (a[1] + b[1]) // 2, (a[2] + b[2]) // 2
            data += bytes((a[0], b[0], cb, cr))
            expected += bytes(ybr_to_rgb(a[0], cb, cr) + ybr_to_rgb(b[0], cb, cr))
    write(os.path.join(out, "ybr_full_422.dcm"), image_attrs(3, "YBR_FULL_422", 8, 8, False, planar=0),
          bytes(data), "OB")
    with open(os.path.join(out, "ybr_full_422.expected.raw"), "wb") as f:
        f.write(expected)


def palette(out):
    # 8-bit indices, 256-entry LUTs of 16-bit entries (v * 257 so 8- and 16-bit outputs agree).
    lut = [[int(255 * (0.5 + 0.5 * math.sin(i / 40.0 + k * 2.1))) for i in range(256)] for k in range(3)]
    idx = bytes(int(255 * field(x, y)) for y in range(ROWS) for x in range(COLS))
    a = image_attrs(1, "PALETTE COLOR", 8, 8, False)
    for k, (desc, data) in enumerate(((0x1101, 0x1201), (0x1102, 0x1202), (0x1103, 0x1203))):
        a[(0x0028, desc)] = ("US", struct.pack("<HHH", 256, 0, 16))
        a[(0x0028, data)] = ("OW", b"".join(struct.pack("<H", v * 257) for v in lut[k]))
    write(os.path.join(out, "palette8.dcm"), a, idx, "OB")
    with open(os.path.join(out, "palette8.expected.raw"), "wb") as f:  # 8-bit RGB form
        f.write(bytes(lut[k][i] for i in idx for k in range(3)))


def bits1(out):
    bits = [1 if field(x, y) > 0.5 else 0 for y in range(ROWS) for x in range(COLS)]
    packed = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):  # PS3.5 8.1.1 / D.2: first pixel in the least significant bit
        packed[i // 8] |= b << (i % 8)
    write(os.path.join(out, "bits1.dcm"), image_attrs(1, "MONOCHROME2", 1, 1, False), bytes(packed), "OB")
    with open(os.path.join(out, "bits1.expected.raw"), "wb") as f:
        f.write(bytes(bits))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    grey(out, "gray8", 8, 8, False, 0, 255)
    grey(out, "gray12", 16, 12, False, 0, 4095)
    grey(out, "gray12s", 16, 12, True, -2048, 2047)
    grey(out, "gray16u", 16, 16, False, 0, 65535)
    grey(out, "gray16s", 16, 16, True, -1024, 3071)
    grey(out, "gray32u", 32, 32, False, 0, 4000000000)
    grey(out, "gray32s", 32, 32, True, -2000000000, 2000000000)
    grey(out, "mono1_12", 16, 12, False, 0, 4095, photometric="MONOCHROME1")
    grey(out, "mono1_8", 8, 8, False, 0, 255, photometric="MONOCHROME1")
    grey(out, "gray8_mf", 8, 8, False, 0, 255, frames=3)
    grey(out, "gray16_mf", 16, 16, False, 0, 65535, frames=3)
    colour(out)
    palette(out)
    bits1(out)


if __name__ == "__main__":
    main()
