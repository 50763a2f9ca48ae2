# PyTorch reference for bench/two-tower.ts: the same two-tower model, shapes, init and step
# (forward + backward + AdamW). Run with Debian's python3-torch:
#   OMP_WAIT_POLICY=passive /usr/bin/python3 bench/two_tower.py --steps 10
import argparse, json, resource, statistics, time
import torch
import torch.nn.functional as F

P = dict(batch=32, image=64, patch=8, width=256, layers=4, heads=4, mlp=1024, vocab=1000, seq=32, embed=256)


def param(*shape, std=0.02):
    return torch.nn.Parameter(torch.randn(*shape) * std)


class Block(torch.nn.Module):
    # Pre-norm transformer block; weights stored [out, in] as the TypeScript model.
    def __init__(s, w, h, mlp):
        super().__init__()
        s.h = h
        s.ln1w, s.ln1b = torch.nn.Parameter(torch.ones(w)), torch.nn.Parameter(torch.zeros(w))
        s.qkv, s.qkvb = param(3 * w, w), torch.nn.Parameter(torch.zeros(3 * w))
        s.proj, s.projb = param(w, w), torch.nn.Parameter(torch.zeros(w))
        s.ln2w, s.ln2b = torch.nn.Parameter(torch.ones(w)), torch.nn.Parameter(torch.zeros(w))
        s.fc1, s.fc1b = param(mlp, w), torch.nn.Parameter(torch.zeros(mlp))
        s.fc2, s.fc2b = param(w, mlp), torch.nn.Parameter(torch.zeros(w))

    def forward(s, x):
        B, T, W = x.shape
        D = W // s.h
        y = F.layer_norm(x, (W,), s.ln1w, s.ln1b, 1e-6)
        qkv = F.linear(y, s.qkv, s.qkvb).reshape(B, T, 3, s.h, D).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-1, -2) * D ** -0.5, dim=-1)
        ctx = (a @ v).permute(0, 2, 1, 3).reshape(B, T, W)
        x = x + F.linear(ctx, s.proj, s.projb)
        y = F.layer_norm(x, (W,), s.ln2w, s.ln2b, 1e-6)
        return x + F.linear(F.gelu(F.linear(y, s.fc1, s.fc1b)), s.fc2, s.fc2b)


class Tower(torch.nn.Module):
    def __init__(s, tokens, w, layers, h, mlp, embed):
        super().__init__()
        s.pos = param(tokens, w)
        s.blocks = torch.nn.ModuleList([Block(w, h, mlp) for _ in range(layers)])
        s.lnw, s.lnb = torch.nn.Parameter(torch.ones(w)), torch.nn.Parameter(torch.zeros(w))
        s.out = param(embed, w)

    def forward(s, x):
        x = x + s.pos
        for b in s.blocks:
            x = b(x)
        x = F.layer_norm(x, (x.shape[-1],), s.lnw, s.lnb, 1e-6)
        return F.linear(x[:, 0], s.out)


class TwoTower(torch.nn.Module):
    def __init__(s):
        super().__init__()
        p, w = P["patch"], P["width"]
        s.patch, s.patchb = param(w, 3 * p * p), torch.nn.Parameter(torch.zeros(w))
        s.cls = param(1, 1, w)
        s.vision = Tower((P["image"] // p) ** 2 + 1, w, P["layers"], P["heads"], P["mlp"], P["embed"])
        s.tok = param(P["vocab"], w)
        s.text = Tower(P["seq"], w, P["layers"], P["heads"], P["mlp"], P["embed"])

    def forward(s, images, ids):
        B, p, g = images.shape[0], P["patch"], P["image"] // P["patch"]
        patches = images.reshape(B, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, 3 * p * p)
        x = torch.cat([s.cls.expand(B, 1, -1), F.linear(patches, s.patch, s.patchb)], dim=1)
        img = F.normalize(s.vision(x), dim=-1)
        txt = F.normalize(s.text(s.tok[ids]), dim=-1)
        logits = img @ txt.t() / 0.07
        labels = torch.arange(B)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = TwoTower()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    images = torch.rand(P["batch"], 3, P["image"], P["image"])
    ids = torch.randint(0, P["vocab"], (P["batch"], P["seq"]))
    times = []
    for i in range(args.warmup + args.steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(images, ids)
        loss.backward()
        opt.step()
        float(loss)
        if i >= args.warmup:
            times.append((time.perf_counter() - t) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": "pytorch", "bench": "two-tower", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "median_ms": statistics.median(times), "peak_rss_mb": rss, "loss": float(loss)}))


if __name__ == "__main__":
    main()
