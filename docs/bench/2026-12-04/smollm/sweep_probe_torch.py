import time, torch
torch.set_num_threads(2)
for n in [1024, 16384, 65536, 262144, 1048576, 4194304, 16777216]:
    a, b = torch.randn(n), torch.randn(n); out = []
    for nm, f in [('add', lambda: a + b), ('sigmoid', lambda: torch.sigmoid(a))]:
        best = 1e9; reps = 20 if n >= 4194304 else 200
        for r in range(5):
            t = time.perf_counter()
            for k in range(reps): f()
            best = min(best, (time.perf_counter() - t) / reps * 1e6)
        out.append(f"{nm} {best:.0f} us ({n*4*(3 if nm=='add' else 2)/best/1e3:.1f} GB/s)")
    print(f"{n:9d}", '  '.join(out))
