# PyTorch reference for bench/blip-step.ts: a BLIP-shaped model (ViT image encoder; BERT text encoder
# with cross-attention; a causal decoder sharing all but its self-attention with the encoder; ITC, ITM
# with hard negatives, LM with label smoothing), written after Hugging Face's BLIP modules with the
# same shapes and init (normal 0.02, zero biases, unit LayerNorm). Modes: a training step
# (forward + backward + AdamW) or a teacher forward without gradients.
#   OMP_WAIT_POLICY=passive /usr/bin/python3 bench/blip_step.py [--mode step|forward] [--steps 10]
import argparse, json, resource, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

C = dict(batch=32, image=64, patch=8, vwidth=256, vlayers=4, vheads=4, vmlp=1024, vocab=30524, width=256,
         layers=4, heads=4, mlp=1024, seq=32, maxpos=64, embed=128, bos=30522, enc=30523, pad=0)


def linear(i, o, bias=True):
    m = nn.Linear(i, o, bias=bias)
    nn.init.normal_(m.weight, std=0.02)
    if bias:
        nn.init.zeros_(m.bias)
    return m


def heads(x, h):
    b, t, w = x.shape
    return x.view(b, t, h, w // h).transpose(1, 2)


def attend(q, k, v, h, mask=None):
    b, t, w = q.shape
    s = heads(q, h) @ heads(k, h).transpose(-1, -2) / (w // h) ** 0.5
    if mask is not None:
        s = s + mask
    return (s.softmax(-1) @ heads(v, h)).transpose(1, 2).reshape(b, t, w)


class VisionLayer(nn.Module):
    def __init__(s):
        super().__init__()
        w = C["vwidth"]
        s.ln1, s.ln2 = nn.LayerNorm(w, eps=1e-5), nn.LayerNorm(w, eps=1e-5)
        s.qkv, s.proj = linear(w, 3 * w), linear(w, w)
        s.fc1, s.fc2 = linear(w, C["vmlp"]), linear(C["vmlp"], w)

    def forward(s, x):
        q, k, v = s.qkv(s.ln1(x)).chunk(3, dim=-1)
        x = x + s.proj(attend(q, k, v, C["vheads"]))
        return x + s.fc2(F.gelu(s.fc1(s.ln2(x))))


class Vision(nn.Module):
    def __init__(s):
        super().__init__()
        w, p = C["vwidth"], C["patch"]
        s.patch = nn.Conv2d(3, w, p, p)
        nn.init.normal_(s.patch.weight, std=0.02)
        nn.init.zeros_(s.patch.bias)
        s.cls = nn.Parameter(torch.randn(1, 1, w) * 0.02)
        s.pos = nn.Parameter(torch.randn(1, (C["image"] // p) ** 2 + 1, w) * 0.02)
        s.layers = nn.ModuleList([VisionLayer() for _ in range(C["vlayers"])])
        s.post = nn.LayerNorm(w, eps=1e-5)

    def forward(s, px):
        x = s.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1) + s.pos
        for l in s.layers:
            x = l(x)
        return s.post(x)


class Attention(nn.Module):
    # BERT attention: q, k, v, then dense + LayerNorm over the residual (post-norm).
    def __init__(s, kv_width):
        super().__init__()
        w = C["width"]
        s.q, s.k, s.v, s.o = linear(w, w), linear(kv_width, w), linear(kv_width, w), linear(w, w)
        s.ln = nn.LayerNorm(w, eps=1e-12)

    def forward(s, x, kv, mask):
        return s.ln(x + s.o(attend(s.q(x), s.k(kv), s.v(kv), C["heads"], mask)))


class TextLayer(nn.Module):
    def __init__(s, share=None):
        super().__init__()
        w = C["width"]
        s.self_attn = Attention(w)
        s.cross = share.cross if share else Attention(C["vwidth"])
        s.inter = share.inter if share else linear(w, C["mlp"])
        s.out = share.out if share else linear(C["mlp"], w)
        s.ln = share.ln if share else nn.LayerNorm(w, eps=1e-12)

    def forward(s, x, mask, image=None):
        x = s.self_attn(x, x, mask)
        if image is not None:
            x = s.cross(x, image, None)
        return s.ln(x + s.out(F.gelu(s.inter(x))))


class Text(nn.Module):
    def __init__(s, share=None):
        super().__init__()
        w = C["width"]
        if share:
            s.word, s.posemb, s.ln = share.word, share.posemb, share.ln
        else:
            s.word, s.posemb = nn.Embedding(C["vocab"], w), nn.Embedding(C["maxpos"], w)
            nn.init.normal_(s.word.weight, std=0.02)
            nn.init.normal_(s.posemb.weight, std=0.02)
            s.ln = nn.LayerNorm(w, eps=1e-12)
        s.layers = nn.ModuleList([TextLayer(share.layers[i] if share else None) for i in range(C["layers"])])

    def forward(s, ids, mask, image=None, causal=False):
        t = ids.shape[1]
        x = s.ln(s.word(ids) + s.posemb(torch.arange(t)))
        m = mask[:, None, None, :].float()
        if causal:
            m = m * torch.tril(torch.ones(t, t))[None, None]
        m = (1.0 - m) * -10000.0
        for l in s.layers:
            x = l(x, m, image)
        return x


class Blip(nn.Module):
    def __init__(s):
        super().__init__()
        w = C["width"]
        s.vision, s.text = Vision(), Text()
        s.decoder = Text(share=s.text)
        s.vision_proj, s.text_proj = linear(C["vwidth"], C["embed"]), linear(w, C["embed"])
        s.itm = linear(w, 2)
        s.temp = nn.Parameter(torch.tensor(0.07))
        s.lm_dense, s.lm_ln, s.lm_out = linear(w, w), nn.LayerNorm(w, eps=1e-12), linear(w, C["vocab"])

    def logits(s, states):
        return s.lm_out(s.lm_ln(F.gelu(s.lm_dense(states))))

    def losses(s, px, ids, mask):
        b = ids.shape[0]
        image = s.vision(px)
        img = F.normalize(s.vision_proj(image[:, 0]), dim=-1)
        txt = F.normalize(s.text_proj(s.text(ids, mask)[:, 0]), dim=-1)
        sim = img @ txt.t() / s.temp
        target = torch.arange(b)
        itc = (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target)) / 2
        with torch.no_grad():
            w_i2t = F.softmax(sim, 1).fill_diagonal_(0) + 1e-9
            w_t2i = F.softmax(sim.t(), 1).fill_diagonal_(0) + 1e-9
            neg_img = torch.multinomial(w_t2i, 1).squeeze(1)
            neg_txt = torch.multinomial(w_i2t, 1).squeeze(1)
        enc = ids.clone()
        enc[:, 0] = C["enc"]
        images = torch.cat([image, image[neg_img], image])
        texts = torch.cat([enc, enc, enc[neg_txt]])
        masks = torch.cat([mask, mask, mask[neg_txt]])
        itm_logits = s.itm(s.text(texts, masks, images)[:, 0])
        itm_labels = torch.cat([torch.ones(b, dtype=torch.long), torch.zeros(2 * b, dtype=torch.long)])
        itm = F.cross_entropy(itm_logits, itm_labels)
        dec = ids.clone()
        dec[:, 0] = C["bos"]
        labels = dec.masked_fill(dec == C["pad"], -100)
        logits = s.logits(s.decoder(dec, mask, image, causal=True))
        lm = F.cross_entropy(logits[:, :-1].reshape(-1, C["vocab"]), labels[:, 1:].reshape(-1), ignore_index=-100,
                             label_smoothing=0.1)
        return itc + itm + lm

    def teacher(s, px, ids, mask):
        image = s.vision(px)
        txt = s.text(ids, mask)
        mm = s.text(ids, mask, image)
        return s.vision_proj(image[:, 0]), s.text_proj(txt[:, 0]), s.itm(mm[:, 0]), s.logits(s.decoder(ids, mask, image, causal=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["step", "forward"], default="step")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = Blip()
    b, t = C["batch"], C["seq"]
    px = torch.rand(b, 3, C["image"], C["image"])
    ids = torch.randint(1000, 30000, (b, t))
    ids[:, 0] = 101
    mask = torch.ones(b, t, dtype=torch.long)
    mask[::2, -4:] = 0
    ids[mask == 0] = C["pad"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        if args.mode == "step":
            opt.zero_grad(set_to_none=True)
            loss = model.losses(px, ids, mask)
            loss.backward()
            opt.step()
            float(loss)
        else:
            with torch.no_grad():
                out = model.teacher(px, ids, mask)
                float(out[-1].sum())
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": "pytorch", "bench": f"blip-{args.mode}", "threads": torch.get_num_threads(),
                      "median_ms": statistics.median(times), "peak_rss_mb": rss}))


if __name__ == "__main__":
    main()
