"""Prints `./x bench`'s side-by-side table: riglab against the peers it would replace, each
figure measured in the same run (artifacts/bench/). A benchmark: it asserts nothing.
usage: python3 tests/bench/table.py artifacts/bench"""
import json, sys
from pathlib import Path

d = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/bench")

def lines(name):
    p = d / name
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip().startswith("{")] if p.exists() else []

def find(rows, **k):
    for r in rows:
        if all(r.get(a) == b for a, b in k.items()):
            return r
    return None

fast, exact = lines("riglab-fast.jsonl"), lines("riglab-exact.jsonl")
torch = lines("torch.jsonl")
page = json.loads((d / "page.json").read_text()) if (d / "page.json").exists() else {}
tfjs = json.loads((d / "tfjs.json").read_text()) if (d / "tfjs.json").exists() else {}

def ours(rows, model, data, method, sparsity):
    r = find(rows, model=model, data=data, method=method, sparsity=sparsity)
    return r and r["steps_per_s"]

def peer_torch(model_key, masked):
    r = find(torch, model=model_key, masked90=masked)
    return r and r["steps_per_s"]

def tf_best(key):
    v = [c.get(key) for c in tfjs.values() if isinstance(c, dict) and c.get(key)]
    return max(v) if v else None

def page_preset(name):
    r = page.get("presets", {}).get(name, {})
    return r.get("steps_per_s")

MLP, CNN = "mlp:300,100", "cnn:16,32,128"
rows = [
    ("native mlp:300,100 dense", ours(fast, MLP, "28x28x1", "dense", 0.0), "PyTorch CPU", peer_torch(MLP, False), 1.0),
    ("native mlp:300,100 RigL 90% ERK", ours(fast, MLP, "28x28x1", "rigl", 0.9), "PyTorch masked", peer_torch(MLP, True), 3.0),
    ("native cnn 28x28x1 dense", ours(fast, CNN, "28x28x1", "dense", 0.0), "PyTorch CPU", peer_torch("cnn:16,32,128 mnist 28x28x1", False), 1.0),
    ("native cnn 28x28x1 RigL 90%", ours(fast, CNN, "28x28x1", "rigl", 0.9), "PyTorch masked", peer_torch("cnn:16,32,128 mnist 28x28x1", True), 2.0),
    ("native cnn 32x32x3 dense", ours(fast, CNN, "32x32x3", "dense", 0.0), "PyTorch CPU", peer_torch("cnn:16,32,128 cifar 32x32x3", False), 1.0),
    ("native cnn 32x32x3 RigL 90%", ours(fast, CNN, "32x32x3", "rigl", 0.9), "PyTorch masked", peer_torch("cnn:16,32,128 cifar 32x32x3", True), 2.0),
    ("native mlp dense, exact mode", ours(exact, MLP, "28x28x1", "dense", 0.0), "riglab fast mode", ours(fast, MLP, "28x28x1", "dense", 0.0), None),
    ("native cnn 32x32x3 dense, exact mode", ours(exact, CNN, "32x32x3", "dense", 0.0), "riglab fast mode", ours(fast, CNN, "32x32x3", "dense", 0.0), None),
    ("page CPU mlp dense", page_preset("mlp_dense"), "TF.js best backend", tf_best("ops_steps_per_s"), 1.5),
    ("page CPU mlp RigL 90%", page_preset("mlp_rigl90"), "TF.js best backend", tf_best("ops_steps_per_s"), 10.0),
    ("page CPU CIFAR cnn RigL 90%", page_preset("cifar_cnn_rigl90"), "TF.js best backend", tf_best("cnn_steps_per_s"), None),
]
fmt = lambda v: "-" if v is None else f"{v:.1f}"
print("| workload (batch 128) | riglab steps/s | peer | peer steps/s | ratio | target |")
print("|---|---|---|---|---|---|")
for name, a, peer, b, target in rows:
    ratio = f"{a / b:.2f}x" if a and b else "-"
    tgt = f">= {target}x" if target else "-"
    print(f"| {name} | {fmt(a)} | {peer} | {fmt(b)} | {ratio} | {tgt} |")
for name in ("mlp_dense", "mlp_rigl90", "cifar_cnn_rigl90"):
    r = page.get("presets", {}).get(name)
    if r:
        print(f"page {name}: {r.get('long_tasks_over_50ms')} tasks over 50 ms, longest {r.get('longest_task_ms')} ms")
if page:
    print(f"page size: {page.get('app_gzip_kb')} KB gzip (JS + wasm + CSS)")
