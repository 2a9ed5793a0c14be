#!/usr/bin/env python3
"""craft.py — hand-made GGUF files for the malformed-input tests.

  craft.py OUT tensor NAME TYPE_ID DIM[,DIM...] [tensor ...] [--kv KEY=u32:V|str:V ...]
             [--data N]   (N data bytes after the aligned metadata, default
                           enough for every tensor whose size fits in 1 MiB)

Tensors are laid out back to back from data offset 0 with their byte
sizes computed the way ggml does; a size that does not fit (the point of
the test) gets offset 0 and no data.
"""
import struct, sys

BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 30: (1, 2)}

def s(x):
    b = x.encode('utf-8', 'surrogateescape') if isinstance(x, str) else x
    return struct.pack('<Q', len(b)) + b

def main(argv):
    out = argv[0]
    tensors, kvs, data = [], [], None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == 'tensor':
            name = argv[i + 1].encode().replace(b'\\0', b'\0')
            tensors.append((name, int(argv[i + 2]), [int(d, 0) for d in argv[i + 3].split(',')]))
            i += 4
        elif a == '--kv':
            k, v = argv[i + 1].split('=', 1)
            t, v = v.split(':', 1)
            kvs.append((k, t, v))
            i += 2
        elif a == '--data':
            data = int(argv[i + 1]); i += 2
        else:
            sys.exit('craft.py: bad argument ' + a)
    body = b''
    for k, t, v in kvs:
        body += s(k)
        if t == 'u32':
            body += struct.pack('<II', 4, int(v, 0))
        elif t == 'str':
            body += struct.pack('<I', 8) + s(v)
        else:
            sys.exit('craft.py: kv type ' + t)
    off, need = 0, 0
    for name, tid, dims in tensors:
        body += s(name) + struct.pack('<I', len(dims))
        for d in dims:
            body += struct.pack('<Q', d & (2**64 - 1))
        n = 1
        for d in dims:
            n *= d
        blk, size = BLOCK.get(tid, (1, 1))
        nbytes = n // blk * size
        if nbytes > 1 << 20:
            nbytes = 0
        body += struct.pack('<IQ', tid, off)
        off += (nbytes + 31) // 32 * 32
        need = off
    head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs))
    meta = head + body
    meta += b'\0' * ((-len(meta)) % 32)
    n = need if data is None else data
    with open(out, 'wb') as f:
        f.write(meta + bytes((j * 7) & 0x3f for j in range(n)))

main(sys.argv[1:])
