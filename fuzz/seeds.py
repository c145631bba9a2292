#!/usr/bin/env python3
# fuzz/seeds.py - (re)generates the seed corpus of the fuzzers in fuzz/corpus/.
#
# Usage: python3 fuzz/seeds.py   (from anywhere; needs only the standard library)
# ir_parser seeds are the example and IR-text test graphs plus small graphs
# written here; npy, idx and safetensors seeds are small valid files of every
# supported dtype, format version and layout, plus near misses (wrong magic,
# truncated, unsupported dtype) so the fuzzer starts next to every error path.
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(kind, name, data):
    d = CORPUS / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- IR text
IR_SEEDS = {
    "tiny.kir": """graph @f(%x: f32[2,3]) {
  %y = exp(%x) : f32[2,3]
  return %y : f32[2,3]
}
""",
    "state.kir": """graph @s(%x: f32[4]) params(%w: f32[4]) state(%m: f32[4]) {
  %a = mul(%x, %w) : f32[4]
  %b = add(%a, %m) : f32[4]
  assign(%m, %b)
  %l = reduce_sum(%b) {axes = [0], keepdims = false} : f32[]
  return %l : f32[]
}
""",
    "conv.kir": """graph @c(%x: f32[1,1,5,5]) params(%w: f32[2,1,3,3]) {
  %y = conv2d(%x, %w) {stride = [1,1], padding = "same"} : f32[1,2,5,5]
  %p = max_pool2d(%y) {kernel = [2,2], stride = [], padding = "valid"} : f32[1,2,2,2]
  %f = flatten(%p) : f32[1,8]
  %s = softmax(%f) {axis = -1} : f32[1,8]
  return %s : f32[1,8]
}
""",
    "fused.kir": """graph @g(%x: f32[4], %y: f32[4]) {
  %t = fused(%x, %y) {name = "elementwise"} : f32[4] {
    ^(%arg0: f32[4], %arg1: f32[4])
    %a = add(%arg0, %arg1) : f32[4]
    %r = relu(%a) : f32[4]
    yield %r : f32[4]
  }
  return %t : f32[4]
}
""",
    "ints.kir": """graph @i(%l: i32[3], %k: i64[]) {
  %o = one_hot(%l) {depth = 4, dtype = "f32"} : f32[3,4]
  %d = dropout(%o, %k) {rate = 0.5, seed = 7} : f32[3,4]
  %m = argmax(%d) {axis = -1} : i32[3]
  %c = cmp(%m, %l) {pred = "eq"} : bool[3]
  %z = cast(%c) {dtype = "f32"} : f32[3]
  %b = broadcast(%z) {shape = [2,3]} : f32[2,3]
  %t = transpose(%b) {perm = [1,0]} : f32[3,2]
  %r = reshape(%t) {shape = [-1]} : f32[6]
  return %r : f32[6]
}
""",
}


def ir_seeds():
    for name, text in IR_SEEDS.items():
        put("ir_parser", name, text)
    for p in sorted((ROOT / "examples").rglob("*.kir")) + sorted((ROOT / "tests" / "ir-text").rglob("*.kir")):
        rel = p.relative_to(ROOT).as_posix().replace("/", "_")
        put("ir_parser", rel, p.read_bytes())


# ---------------------------------------------------------------- .npy
FMT = {"<f4": "f", "<f8": "d", "<i4": "i", "<i8": "q", "|u1": "B", "|b1": "?"}


def npy(descr, shape, values, version=1, fortran=False, pad=True):
    shape_txt = "(" + "".join(f"{d}, " if len(shape) == 1 else f"{d}, " for d in shape).rstrip(", ")
    shape_txt += ",)" if len(shape) == 1 else ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_txt)
    lenfmt, lensize = ("<H", 2) if version == 1 else ("<I", 4)
    prefix = 6 + 2 + lensize
    total = prefix + len(header) + 1
    if pad:
        header += " " * ((64 - total % 64) % 64)
    header += "\n"
    data = struct.pack("<" + FMT.get(descr, "f") * len(values), *values)
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(header)) + header.encode("latin1") + data


def npy_seeds():
    put("npy", "f32_2x3", npy("<f4", (2, 3), [1, 2, 3, 4, 5, 6]))
    put("npy", "f64_scalar", npy("<f8", (), [3.5]))
    put("npy", "i32_4", npy("<i4", (4,), [1, -2, 3, -4]))
    put("npy", "i64_2x1", npy("<i8", (2, 1), [7, 8]))
    put("npy", "u8_3", npy("|u1", (3,), [0, 128, 255]))
    put("npy", "bool_2", npy("|b1", (2,), [True, False]))
    put("npy", "empty_0x3", npy("<f4", (0, 3), []))
    put("npy", "v2_f32", npy("<f4", (2,), [1, 2], version=2))
    put("npy", "v3_f32", npy("<f4", (2,), [1, 2], version=3))
    put("npy", "fortran", npy("<f4", (2, 2), [1, 2, 3, 4], fortran=True))
    put("npy", "bigendian", npy(">f4", (1,), [1]))
    put("npy", "complex", npy("<c8", (1,), [1, 2]))
    put("npy", "truncated", npy("<f4", (4,), [1, 2, 3, 4])[:-5])
    put("npy", "badmagic", b"\x93NUMPX" + npy("<f4", (1,), [1])[6:])
    put("npy", "huge_shape", npy("<f4", (1 << 40, 1 << 30), []))


# ---------------------------------------------------------------- IDX
def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def idx_seeds():
    images = idx(2051, (2, 3, 3), range(18))
    labels = idx(2049, (5,), [3, 1, 4, 1, 5])
    # Control byte: bits 0-1 expected magic (0 any, 1 images, 2 labels), bits 6-7 path.
    put("idx", "images_mem", bytes([0x01]) + images)
    put("idx", "labels_mem", bytes([0x02]) + labels)
    put("idx", "any_mem_4d", bytes([0x00]) + idx(0x0804, (1, 2, 2, 1), range(4)))
    put("idx", "images_gz", bytes([0xC1]) + images)
    put("idx", "labels_gz", bytes([0xC2]) + labels)
    put("idx", "raw_as_gz", bytes([0x80]) + labels)
    put("idx", "truncated", bytes([0x01]) + images[:-4])
    put("idx", "wrong_magic", bytes([0x01]) + labels)
    put("idx", "float_type", bytes([0x00]) + idx(0x0D01, (1,), [0, 0, 128, 63]))
    put("idx", "huge_dims", bytes([0x01]) + idx(2051, (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), []))


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None, pad=True):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    put("safetensors", "one", safetensors({"w": ("F32", (2, 3), f32)}))
    put("safetensors", "meta", safetensors(
        {"w": ("F32", (2, 3), f32), "step": ("I64", (), struct.pack("<q", 9)),
         "mask": ("BOOL", (2,), b"\x01\x00"), "px": ("U8", (3,), b"\x01\x02\x03"),
         "d": ("F64", (1,), struct.pack("<d", 0.5)), "l": ("I32", (2,), struct.pack("<2i", 1, 2))},
        {"epoch": "3", "model": "cnn"}))
    put("safetensors", "empty", safetensors({}))
    put("safetensors", "zero_size", safetensors({"e": ("F32", (0, 4), b"")}))
    put("safetensors", "bf16", safetensors({"h": ("BF16", (2,), b"\x00\x00\x80\x3f")}))
    put("safetensors", "truncated", safetensors({"w": ("F32", (2, 3), f32)})[:-3])
    put("safetensors", "huge_header", struct.pack("<Q", 1 << 62) + b"{}")
    put("safetensors", "huge_shape",
        safetensors({"w": ("F32", (1 << 31, 1 << 31, 1 << 31), b"")}))


if __name__ == "__main__":
    ir_seeds()
    npy_seeds()
    idx_seeds()
    safetensors_seeds()
    print("seeds written under", CORPUS)
