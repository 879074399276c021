import Foundation

/// The peers `kiln bench` compares with: NumPy (gemm on the CPU) and PyTorch (gemm, ops and training, on the CPU
/// or the GPU), run by a Python interpreter in the same invocation. The script is kept here, in the repository,
/// and written to a temporary file when it runs. It prints one JSON line saying which peers are missing and why,
/// then serves cases: for each JSON line it reads, one JSON line of results. So Kiln and its peers can be timed
/// in turn, case by case, under the same conditions of a shared machine.
enum PeerScript {
    /// The Python source.
    static let source = #"""
import json, math, sys, time

device, threads = sys.argv[1], int(sys.argv[2])
out = {"missing": {}}

try:
    import numpy as np
except Exception as e:
    np = None
    out["missing"]["numpy"] = f"numpy not importable: {e}"
try:
    import torch
    torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("torch has no CUDA device")
    dev = torch.device(device)
    # Kiln's float32 products are IEEE float32 unless asked otherwise: compare like with like.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
except Exception as e:
    torch = None
    out["missing"]["torch"] = f"torch not importable: {e}"

def sync():
    if torch is not None and device.startswith("cuda"):
        torch.cuda.synchronize()

def median_ms(body, minimum=3, budget=1.0, warmup=1, between=None):
    # `between` (untimed) runs before each repeat: the copy Kiln times in turn with its memory-bound ops, so that
    # both sides find the caches in the same state.
    for i in range(warmup):
        body(i)
    sync()
    times, start = [], time.perf_counter()
    while len(times) < minimum or (len(times) < 50 and time.perf_counter() - start < budget):
        if between:
            between(len(times))
            sync()
        t0 = time.perf_counter()
        body(len(times))
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    return times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2

def torch_dtype(name):
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]

def gemm_numpy(shape):
    *batch, m, k, n = shape
    sets = [(np.random.randn(*batch, m, k).astype(np.float32), np.random.randn(*batch, k, n).astype(np.float32)) for _ in range(2)]
    big = 2 * math.prod(shape) > 1e11
    return median_ms(lambda i: sets[i % 2][0] @ sets[i % 2][1], minimum=2 if big else 3, budget=0 if big else 1)

def gemm_torch(shape, dtype):
    *batch, m, k, n = shape
    sets = [(torch.randn(*batch, m, k, device=dev, dtype=dtype), torch.randn(*batch, k, n, device=dev, dtype=dtype)) for _ in range(2)]
    big = 2 * math.prod(shape) > 1e11 and device == "cpu"
    return median_ms(lambda i: sets[i % 2][0] @ sets[i % 2][1], minimum=2 if big else 3, budget=0 if big else 1)

def op_torch(name, s):
    F = torch.nn.functional
    with torch.no_grad():
        if name not in ("copy", "conv2d"):
            sources = [torch.randn(1 << 24, device=dev) for _ in range(3)]
            median = lambda body: median_ms(body, between=lambda i: sources[i % 3].clone())
        else:
            median = median_ms
        if name == "conv2d":
            x = [torch.randn(*s, device=dev) for _ in range(2)]
            w = torch.randn(s[1], s[1], 3, 3, device=dev)
            return median(lambda i: F.conv2d(x[i % 2], w, padding=1))
        if name == "embedding":
            table = torch.randn(s[1], s[2], device=dev)
            ids = [torch.tensor([(r * 7919 + j * 104729) % s[1] for r in range(s[0])], device=dev) for j in range(3)]
            return median(lambda i: F.embedding(ids[i % 3], table))
        if name == "adamw":
            p = torch.randn(*s, device=dev)
            p.grad = torch.randn(*s, device=dev)
            opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, foreach=False, fused=device.startswith("cuda"))
            return median(lambda i: opt.step())
        x = [torch.randn(*s, device=dev) for _ in range(3)]
        y = [torch.randn(*s, device=dev) for _ in range(3)]
        n = s[-1]
        targets = torch.arange(s[0], device=dev) % n if len(s) == 2 else None
        w, b = torch.ones(n, device=dev), torch.zeros(n, device=dev)
        body = {
            "copy": lambda i: x[i % 3].clone(),
            "add": lambda i: x[i % 3] + y[i % 3],
            "mul": lambda i: x[i % 3] * y[i % 3],
            "exp": lambda i: x[i % 3].exp(),
            "gelu": lambda i: F.gelu(x[i % 3]),
            "sum": lambda i: x[i % 3].sum(),
            "softmax": lambda i: x[i % 3].softmax(-1),
            "layer_norm": lambda i: F.layer_norm(x[i % 3], (n,), w, b),
            "cross_entropy": lambda i: F.cross_entropy(x[i % 3], targets),
        }[name]
        return median(body)

def train_torch(name, batch):
    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(7)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)).to(dev)
        data = [(torch.randn(batch, 784, device=dev), torch.arange(batch, device=dev) % 10) for _ in range(3)]
        loss = lambda i: F.cross_entropy(model(data[i % 3][0]), data[i % 3][1])
    elif name == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)).to(dev)
        data = [(torch.randn(batch, 1, 28, 28, device=dev), torch.arange(batch, device=dev) % 10) for _ in range(3)]
        loss = lambda i: F.cross_entropy(model(data[i % 3][0]), data[i % 3][1])
    elif name == "lstm":
        emb, lstm, head = nn.Embedding(1000, 64).to(dev), nn.LSTM(64, 128, batch_first=True).to(dev), nn.Linear(128, 2).to(dev)
        model = nn.ModuleList([emb, lstm, head])
        data = [(torch.tensor([(r * 31 + j * 17) % 1000 for r in range(batch * 50)], device=dev).view(batch, 50),
                 torch.arange(batch, device=dev) % 2) for j in range(3)]
        loss = lambda i: F.cross_entropy(head(lstm(emb(data[i % 3][0]))[1][0][0]), data[i % 3][1])
    else:
        # gpt: bytes, context 128, width 128, 4 blocks of 4 heads; gpt2: GPT-2 small (124M), context 1024.
        vocab, context, width, layers, heads = (256, 128, 128, 4, 4) if name == "gpt" else (50304, 1024, 768, 12, 12)
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
                self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
                self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
            def forward(self, x):
                B, T, C = x.shape
                q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
                a = (q @ k.transpose(-2, -1)) / (C // heads) ** 0.5
                a = a.masked_fill(torch.ones(T, T, device=x.device, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
                x = x + self.proj((a @ v).transpose(1, 2).reshape(B, T, C))
                return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        class GPT(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(context, width)
                self.blocks = nn.ModuleList([Block() for _ in range(layers)])
                self.ln_f, self.head = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)
            def forward(self, t):
                h = self.wte(t) + self.wpe(torch.arange(t.shape[1], device=t.device))
                for b in self.blocks:
                    h = b(h)
                return self.head(self.ln_f(h))
        model = GPT().to(dev)
        data = []
        for j in range(3):
            tokens = torch.tensor([(r * 131 + j * 7) % vocab for r in range(batch * (context + 1))], device=dev).view(batch, context + 1)
            data.append((tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()))
        loss = lambda i: F.cross_entropy(model(data[i % 3][0]).reshape(-1, vocab), data[i % 3][1].reshape(-1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    def step(i):
        opt.zero_grad(set_to_none=True)
        loss(i).backward()
        opt.step()
    return median_ms(step, minimum=5, budget=2, warmup=2)

print(json.dumps(out), flush=True)
for line in sys.stdin:
    case = json.loads(line)
    suite, name, shape, dtype = case["suite"], case["name"], case["shape"], case["dtype"]
    peers = []
    if suite == "gemm" and device == "cpu" and dtype == "float32" and np is not None:
        peers.append(("numpy", lambda: gemm_numpy(shape)))
    if torch is not None:
        if suite == "gemm":
            peers.append(("torch", lambda: gemm_torch(shape, torch_dtype(dtype))))
        elif suite == "ops":
            peers.append(("torch", lambda: op_torch(name, shape)))
        else:
            peers.append(("torch", lambda: train_torch(name, shape[0])))
    print(json.dumps({peer: run() for peer, run in peers}), flush=True)
"""#

    /// Starts the script with `python` for `device` and `threads` CPU threads. Throws only when the script cannot
    /// be written to a temporary folder; a Python that cannot run it leaves its peers missing.
    static func start(device: String, threads: Int, python: String) throws -> PeerSession {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("peer.py")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try source.write(to: script, atomically: true, encoding: .utf8)
        } catch {
            throw UsageError(description: "cannot write the peer script to \(script.path): \(error.localizedDescription)")
        }
        var environment = ProcessInfo.processInfo.environment
        for name in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] { environment[name] = String(threads) }
        // Python has read the script once it has answered the first line, so the folder can go.
        return PeerSession(arguments: [python, script.path, device, String(threads)], environment: environment)
    }
}
