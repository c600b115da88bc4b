#!/usr/bin/env python3
"""One training epoch of tsad's reference LSTM models in PyTorch, for a side-by-side with
`cargo run --release -p tsad-nn --example bench_lstm` (DESIGN.md section 6).

Same models, data and loop as `tsad_nn::bench::run`:
  series   x[t] = sin(2*pi*t/50) + 0.2*(u - 0.5), 20,000 points, u uniform (seeded)
  windows  64 long, stride 1 (19,937 for the autoencoder, 19,936 for the forecaster),
           gathered per batch from the series by start index, shuffled
  autoencoder  LSTM(1->64) -> Linear(64->16) latent, repeated 64 times -> LSTM(16->64)
               -> Linear(64->1) per step; MSE against the window
  forecaster   LSTM(1->64) -> Linear(64->1) on the last step; MSE against the next value
  batch 64, Adam lr 1e-3, no gradient clipping; 5 untimed warm-up batches, then one epoch timed.

Usage: python3 bench/pytorch_lstm.py [autoencoder|forecast] [THREADS ...]
(default: both models, 1 and 2 threads)
Prints one line per model and thread count, in the same format as the Rust example.
Exits with status 0 and a note when torch is not installed.
"""

import math
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the machine
    print("skipped: torch is not installed (pip install torch)")
    sys.exit(0)

WINDOW, HIDDEN, LATENT, BATCH, LR, POINTS, WARMUP = 64, 64, 16, 64, 1e-3, 20_000, 5


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(1, HIDDEN, batch_first=True)
        self.latent = nn.Linear(HIDDEN, LATENT)
        self.decoder = nn.LSTM(LATENT, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # x: (batch, window, 1)
        _, (h, _) = self.encoder(x)
        z = self.latent(h[-1])  # (batch, latent)
        rep = z.unsqueeze(1).expand(-1, x.shape[1], -1)
        out, _ = self.decoder(rep)
        return self.head(out)  # (batch, window, 1)


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :])  # (batch, 1)


def series(points, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(points, generator=g)
    t = torch.arange(points, dtype=torch.float32)
    return torch.sin(2 * math.pi * t / 50) + 0.2 * (u - 0.5)


def run(model_name, threads, seed=42):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = series(POINTS, seed)
    if model_name == "Autoencoder":
        model, windows = Autoencoder(), POINTS - WINDOW + 1
    else:
        model, windows = Forecaster(), POINTS - WINDOW
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    offsets = torch.arange(WINDOW)

    def step(starts):
        idx = starts.unsqueeze(1) + offsets  # (batch, window): gather by start index
        xb = x[idx].unsqueeze(-1)
        if model_name == "Autoencoder":
            target = xb
        else:
            target = x[starts + WINDOW].unsqueeze(-1)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), target)
        loss.backward()
        opt.step()
        return loss.item()

    all_starts = torch.arange(windows)
    for b in range(WARMUP):
        step(all_starts[b * BATCH:(b + 1) * BATCH])
    order = all_starts[torch.randperm(windows)]
    c0 = time.process_time()
    t0 = time.perf_counter()
    total = 0.0
    for b in range(0, windows, BATCH):
        starts = order[b:b + BATCH]
        total += step(starts) * len(starts)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    batches = (windows + BATCH - 1) // BATCH
    print(
        f"pytorch {model_name} threads={threads} windows={windows} batches={batches} "
        f"epoch_seconds={secs:.3f} windows_per_second={windows / secs:.0f} "
        f"cpu_seconds={cpu:.3f} mean_loss={total / windows:.5f}  (torch {torch.__version__})",
        flush=True,
    )


def main():
    args = sys.argv[1:]
    threads = [int(a) for a in args if a.isdigit()] or [1, 2]
    names = [n for n in ("Autoencoder", "Forecast") if n.lower() in args]
    for name in names or ("Autoencoder", "Forecast"):
        for t in threads:
            run(name, t)


if __name__ == "__main__":
    main()
