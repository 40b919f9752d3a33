#!/usr/bin/python3
"""
Golden masks from torch.nn.utils.prune for the prune-l1 / prune-global tests
(packages/forge/src/passes/prune/prune-magnitude.test.ts). CI never runs this; the JSON is committed.

    apt-get install -y --no-install-recommends python3-torch
    /usr/bin/python3 tools/prune-goldens/make_goldens.py
    npx prettier --write packages/forge/src/passes/prune/testdata/torch-prune-masks.json

Weights are seeded normals with no two equal |w| among the non-zeros: torch's topk does not specify
which of equal entries it drops, so a golden with ties would pin an accident. The one tensor with
exact zeros ('zeros') is only pruned at amounts where every zero is dropped, so its masks do not
depend on that order either. Amounts include products amount·n that are exactly x.5, where torch's
count is Python's round (ties to even): 0.25·130 = 32.5 → 32, 0.75·130 = 97.5 → 98, 0.25·466 =
116.5 → 116, 0.75·466 = 349.5 → 350.

Masks are strings over the row-major elements: '1' kept, '0' pruned.
"""
import base64
import json
import os

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

torch.set_num_threads(2)
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'packages', 'forge', 'src', 'passes', 'prune', 'testdata',
    'torch-prune-masks.json',
)

gen = torch.Generator().manual_seed(20240611)


def weight(shape, zeros=0):
    while True:
        w = torch.randn(shape, generator=gen)
        if zeros:
            idx = torch.randperm(w.numel(), generator=gen)[:zeros]
            w.view(-1)[idx] = 0.0
        a = w.abs().flatten()
        nz = a[a != 0]
        if nz.unique().numel() == nz.numel() and (a == 0).sum().item() == zeros:
            return w


def modules(weights):
    """Fresh modules holding copies of the weights (each prune call gets its own)."""
    conv = nn.Conv2d(4, 6, 3)
    gemm = nn.Linear(13, 10)
    matmul = nn.Linear(30, 4)
    zeros = nn.Linear(16, 8)
    out = {'conv': conv, 'gemm': gemm, 'matmul': matmul, 'zeros': zeros}
    with torch.no_grad():
        for k, m in out.items():
            m.weight.copy_(weights[k])
    return out


def mask_string(m):
    return ''.join('1' if x else '0' for x in m.flatten().tolist())


def b64(w):
    return base64.b64encode(w.detach().numpy().astype('<f4').tobytes()).decode()


weights = {
    'conv': weight((6, 4, 3, 3)),
    'gemm': weight((10, 13)),
    'matmul': weight((4, 30)),
    'zeros': weight((8, 16), zeros=10),
}

l1 = []
for name in ['conv', 'gemm', 'matmul']:
    for amount in [0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 1.0]:
        m = modules(weights)[name]
        prune.l1_unstructured(m, 'weight', amount=amount)
        mask = m.weight_mask
        l1.append({'tensor': name, 'amount': amount, 'k': int((mask == 0).sum()), 'mask': mask_string(mask)})
for amount in [0.1, 0.5]:  # k = 13 and 64, both ≥ the 10 zeros
    m = modules(weights)['zeros']
    prune.l1_unstructured(m, 'weight', amount=amount)
    mask = m.weight_mask
    assert (mask.flatten()[weights['zeros'].flatten() == 0] == 0).all()
    l1.append({'tensor': 'zeros', 'amount': amount, 'k': int((mask == 0).sum()), 'mask': mask_string(mask)})

glob = []
for amount in [0.25, 0.5, 0.6, 0.75]:
    ms = modules(weights)
    params = [(ms[k], 'weight') for k in ['conv', 'gemm', 'matmul']]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    masks = {k: mask_string(ms[k].weight_mask) for k in ['conv', 'gemm', 'matmul']}
    k = sum(s.count('0') for s in masks.values())
    glob.append({'tensors': ['conv', 'gemm', 'matmul'], 'amount': amount, 'k': k, 'masks': masks})

doc = {
    'generator': 'tools/prune-goldens/make_goldens.py',
    'torch': torch.__version__,
    'numpy': np.__version__,
    'tensors': {k: {'dims': list(w.shape), 'float32le': b64(w)} for k, w in weights.items()},
    'l1_unstructured': l1,
    'global_unstructured': glob,
}
with open(OUT, 'w') as f:
    json.dump(doc, f, indent=1)
    f.write('\n')
print(f'wrote {os.path.relpath(OUT)}: {len(l1)} l1 masks, {len(glob)} global masks')
for e in l1:
    print(f"  l1 {e['tensor']:6} amount {e['amount']:<5} k {e['k']}")
for e in glob:
    print(f"  global amount {e['amount']:<5} k {e['k']}")
