#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/): a few small valid files
of each format and a few near misses, so that libFuzzer starts from inputs that reach deep into
each reader. The files are committed; rerun this only to change them (python3, standard library)."""
import gzip
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    path = os.path.join(HERE, "corpus", target, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def png(width, height, colour_type, channels, bit_depth=8):
    rows = b"".join(b"\0" + bytes((x * 37 + y * 11 + c) % 256 for x in range(width) for c in range(channels))
                    for y in range(height))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def bmp(width, height):
    row = bytes((x * 50 + c) % 256 for x in range(width) for c in range(3))
    row += b"\0" * (-len(row) % 4)
    pixels = row * height
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


# safetensors: every dtype, metadata, an empty tensor, a 0-dim tensor; one truncated copy.
model = safetensors([
    ("weight", "F32", [2, 3], struct.pack("<6f", *range(6))),
    ("bias", "F64", [3], struct.pack("<3d", 0.5, -1, 2)),
    ("steps", "I64", [], struct.pack("<q", 7)),
    ("mask", "BOOL", [4], bytes([1, 0, 0, 1])),
    ("empty", "F32", [0, 5], b""),
], {"format": "pt", "step": "12"})
write("safetensors", "model.safetensors", model)
write("safetensors", "truncated.safetensors", model[:-5])
write("safetensors", "metadata_only.safetensors", safetensors([], {"note": "caf\u00e9"}))

# IDX: images and labels, raw and gzipped (the gzip path is fuzzed through the same reader).
images = idx([3, 4, 5], bytes(range(60)))
labels = idx([6], bytes([0, 1, 2, 9, 3, 3]))
write("idx", "images.idx3", images)
write("idx", "labels.idx1", labels)
write("idx", "images.idx3.gz", gzip.compress(images, mtime=0))
write("idx", "labels.idx1.gz", gzip.compress(labels, mtime=0))
write("idx", "two_members.gz", gzip.compress(images[:10], mtime=0) + gzip.compress(images[10:], mtime=0))

# CIFAR-10 binary: two records, and a record with a bad label byte.
record = lambda label: bytes([label]) + bytes((i * 7) % 256 for i in range(3072))
write("cifar", "batch.bin", record(3) + record(9))
write("cifar", "bad_label.bin", record(11))

# GLUE TSV: the first byte is the reader's mode (see fuzz_glue_tsv.cpp).
write("glue_tsv", "sst2", "\x00sentence1\tlabel\r\na gripping film\t1\ndull , dull\t0\n")
write("glue_tsv", "mnli_pair", "\x11sentence1\tsentence2\tlabel\nA man sleeps.\tA person rests.\tentailment\n")
write("glue_tsv", "stsb", "\x03index\tsentence1\tsentence2\tlabel\n0\tA plane.\tAn air plane.\t5.000\n1\tx\ty\t3.8\n")
write("glue_tsv", "headerless", "\x08The sailors rode the breeze.\tsecond\t1\nThe more we study.\tb\t0\n")
write("glue_tsv", "bom_utf8", "\x00\ufeffsentence1\tlabel\ncaf\u00e9 \u20ac \U0001F600\t1 \n")

# WordNet data.noun: the license header, synsets of several lexicographer files.
write("wordnet", "data.noun",
      "  1 This software and database is being provided to you, the LICENSEE, by\n"
      "  2 Princeton University under the following license.\n"
      "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived to have its own distinct existence\n"
      "00002137 03 n 02 abstraction 0 abstract_entity 0 010 | a general concept formed by extracting common features\n"
      "00002452 09 n 01 thing 0 002 | a separate and self-contained entity\n"
      "00003553 06 n 02 whole 0 unit 0 | an assemblage of parts that is regarded as a single entity; \"how big is that part compared to the whole?\"\n"
      "15300051 28 n 01 time_period 0 | an amount of time\n")
# A consistent hierarchy (every '@' / '@i' target defined), so the graph and the pair tasks run.
write("wordnet", "graph.noun",
      "  1 license header line\n"
      "00000100 03 n 01 entity 0 002 ~ 00000200 n 0000 ~ 00000600 n 0000 | the top\n"
      "00000200 05 n 02 animal 0 beast 0 002 @ 00000100 n 0000 + 01234567 v 0101 | a living thing\n"
      "00000300 05 n 02 dog 0 domestic_dog 1 001 @ 00000200 n 0000 | a barking animal  \n"
      "00000400 05 n 01 puppy 0 001 @ 00000300 n 0000 | a young dog\n"
      "00000500 05 n 01 cat 0 002 @ 00000200 n 0000 %p 00000300 n 0000 | a purring animal\n"
      "00000600 06 n 01 tool 0 001 @ 00000100 n 0000 | an implement\n"
      "00000700 06 n 01 hammer 0 001 @ 00000600 n 0000 | a tool for nails\n"
      "00000800 05 n 01 Rex 0 001 @i 00000300 n 0000 | a famous dog\n"
      "00000900 06 n 01 toy_dog 0 002 @ 00000300 n 0000 @ 00000600 n 0000 | a dog-shaped tool\n")

# Images: PNG grey, grey+alpha, RGB, RGBA, 16-bit; BMP; a JPEG-looking header.
write("image_folder", "grey.png", png(5, 4, 0, 1))
write("image_folder", "grey_alpha.png", png(3, 3, 4, 2))
write("image_folder", "rgb.png", png(6, 5, 2, 3))
write("image_folder", "rgba.png", png(4, 7, 6, 4))
write("image_folder", "rgb16.png", png(2, 2, 2, 6, bit_depth=16))
write("image_folder", "rgb.bmp", bmp(5, 3))
write("image_folder", "jpeg_header.jpg", bytes([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]) + b"JFIF\0\1\1\0\0\1\0\1\0\0" + bytes([0xFF, 0xD9]))

# Tokenizer files as Tokenizer::save writes them (escapes: \\ \n \r \t).
write("tokenizer", "word.txt",
      "dyngrad-tokenizer 1\nkind word\nlowercase 1\nmin_freq 1\nmax_size 0\nspecials 3\ntokens 9\n"
      "<pad>\n<unk>\n[SEP]\nthe\n.\nstop\n'\ncaf\u00e9\ntab\\there\n")
write("tokenizer", "character.txt",
      "dyngrad-tokenizer 1\nkind character\nlowercase 0\nmin_freq 2\nmax_size 10\nspecials 2\ntokens 6\n"
      "<pad>\n<unk>\na\n \n\\n\n\u00e9\n")

# WordPiece (fuzz_wordpiece.cpp): the first byte picks the mode. Even: text for the fixed
# vocabulary (0x01 separates a sentence pair; bits 2-5 set max_length); odd: a vocab.txt.
write("wordpiece", "text_uncased.bin",
      b"\x00" + "Caf\u00e9 NA\u00cfVE un-affable, the CAT's \u4e2d\u6587 [SEP] \U0001F600\t\u00a0x".encode())
write("wordpiece", "pair_truncated.bin",
      b"\x10" + "the cats a a a\x01un aff able \u00e9\u00e9\u00e9 \u0130 \u03a3".encode())
write("wordpiece", "text_cased.bin", b"\x02" + "The END. \u0301 \x07 \u2028 ".encode() + b"a" * 120)
write("wordpiece", "vocab.txt", b"\x01[PAD]\n[UNK]\r\n[CLS]\r[SEP]\n[MASK]\ndon\n##'\n'\nt\nstop\n,\ncaf\n##\xc3\xa9\nthe\nend\n.\n")
