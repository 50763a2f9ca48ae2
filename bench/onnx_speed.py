# PyTorch reference for bench/onnx-speed.ts: the same inference workloads on a BLIP model built in plain
# torch from a dlip config (a preset, a shipped model's config.json, or what onnx-speed.ts writes).
# A speed reference only: weights are random and dlip's are never loaded, but every shape and op that
# costs time matches dlip's model (src/models/*.ts, after Hugging Face's BLIP): ViT image encoder with
# fused qkv and pre-norm blocks; BERT text encoder with post-norm self-, cross-attention and MLP; a
# causal decoder (sharing all but self-attention with the encoder in the pre-training model, its own in
# the VQA model) with the LM head over the full vocabulary (30,524 words); the same widths, layers,
# heads and sequence lengths. Generation decodes with a key/value cache as dlip does: cross-attention
# keys/values once per input, the prefix once, then one token a step, beam rows reordered each step.
# Workloads (onnx-speed.ts passes its lengths and prompt, so both sides agree):
#   image    image encoder + ITC projection;
#   text     unimodal text encoder + ITC projection;
#   itm      image-grounded text encoder + ITM head (image states precomputed);
#   caption  image encoding + beam search 3 after [DEC] + prompt, EOS barred so every run decodes
#            --caption-tokens steps;
#   vqa      image encoding + question encoding against the image + answer decoder, beam search 3
#            after [DEC], --answer-tokens steps (dlip's generateVqaAnswers: question padding attended).
# Prints one JSON object: median ms per call of each workload and batch.
#   OMP_WAIT_POLICY=passive /usr/bin/python3 bench/onnx_speed.py --config presets/tiny-teacher.json
#     [--batches 1,32] [--repeats 5] [--warmup 1] [--threads 2]
import argparse, json, resource, statistics, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def linear(i, o):
    m = nn.Linear(i, o)
    nn.init.normal_(m.weight, std=0.02)
    nn.init.zeros_(m.bias)
    return m


def split_heads(x, h):
    b, t, w = x.shape
    return x.view(b, t, h, w // h).transpose(1, 2)


def attend(q, k, v, mask=None):
    # q, k, v [B, H, T, d] → context [B, Tq, H·d]
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if mask is not None:
        s = s + mask
    out = s.softmax(-1) @ v
    return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)


class VisionLayer(nn.Module):
    def __init__(s, v):
        super().__init__()
        w = v["hidden_size"]
        s.heads = v["num_attention_heads"]
        s.ln1, s.ln2 = nn.LayerNorm(w, eps=v["layer_norm_eps"]), nn.LayerNorm(w, eps=v["layer_norm_eps"])
        s.qkv, s.proj = linear(w, 3 * w), linear(w, w)
        s.fc1, s.fc2 = linear(w, v["intermediate_size"]), linear(v["intermediate_size"], w)

    def forward(s, x):
        q, k, v = (split_heads(t, s.heads) for t in s.qkv(s.ln1(x)).chunk(3, dim=-1))
        x = x + s.proj(attend(q, k, v))
        return x + s.fc2(F.gelu(s.fc1(s.ln2(x))))


class Vision(nn.Module):
    def __init__(s, v):
        super().__init__()
        w, p = v["hidden_size"], v["patch_size"]
        s.patch = nn.Conv2d(3, w, p, p)
        s.cls = nn.Parameter(torch.randn(1, 1, w) * 0.02)
        s.pos = nn.Parameter(torch.randn(1, (v["image_size"] // p) ** 2 + 1, w) * 0.02)
        s.layers = nn.ModuleList([VisionLayer(v) for _ in range(v["num_hidden_layers"])])
        s.post = nn.LayerNorm(w, eps=v["layer_norm_eps"])

    def forward(s, px):
        x = s.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1) + s.pos
        for layer in s.layers:
            x = layer(x)
        return s.post(x)


class Attention(nn.Module):
    # BERT attention: q, k, v, then dense + LayerNorm over the residual (post-norm).
    def __init__(s, t, kv_width):
        super().__init__()
        w = t["hidden_size"]
        s.heads = t["num_attention_heads"]
        s.q, s.k, s.v, s.o = linear(w, w), linear(kv_width, w), linear(kv_width, w), linear(w, w)
        s.ln = nn.LayerNorm(w, eps=t["layer_norm_eps"])

    def project(s, kv):
        return split_heads(s.k(kv), s.heads), split_heads(s.v(kv), s.heads)

    def attend(s, x, k, v, mask=None):
        return s.ln(x + s.o(attend(split_heads(s.q(x), s.heads), k, v, mask)))


class TextLayer(nn.Module):
    def __init__(s, t, share=None):
        super().__init__()
        w = t["hidden_size"]
        s.self_attn = Attention(t, w)
        s.cross = share.cross if share else Attention(t, t["encoder_hidden_size"])
        s.inter = share.inter if share else linear(w, t["intermediate_size"])
        s.out = share.out if share else linear(t["intermediate_size"], w)
        s.ln = share.ln if share else nn.LayerNorm(w, eps=t["layer_norm_eps"])

    def ffn(s, x):
        return s.ln(x + s.out(F.gelu(s.inter(x))))

    def forward(s, x, mask, encoder=None):
        x = s.self_attn.attend(x, *s.self_attn.project(x), mask)
        if encoder is not None:
            x = s.cross.attend(x, *s.cross.project(encoder))
        return s.ffn(x)

    def step(s, x, past, mask, cross):
        # New tokens x after the cached self keys/values `past`; cross: this layer's keys/values over the encoder.
        k, v = s.self_attn.project(x)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        x = s.cross.attend(s.self_attn.attend(x, k, v, mask), *cross)
        return s.ffn(x), (k, v)


class Text(nn.Module):
    def __init__(s, t, share=None):
        super().__init__()
        w = t["hidden_size"]
        if share:
            s.word, s.posemb, s.ln = share.word, share.posemb, share.ln
        else:
            s.word, s.posemb = nn.Embedding(t["vocab_size"], w), nn.Embedding(t["max_position_embeddings"], w)
            s.ln = nn.LayerNorm(w, eps=t["layer_norm_eps"])
        s.layers = nn.ModuleList([TextLayer(t, share.layers[i] if share else None) for i in range(t["num_hidden_layers"])])

    def embed(s, ids, past=0):
        return s.ln(s.word(ids) + s.posemb(torch.arange(past, past + ids.shape[1])))

    def forward(s, ids, mask, encoder=None):
        x = s.embed(ids)
        m = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for layer in s.layers:
            x = layer(x, m, encoder)
        return x


class Decoder(nn.Module):
    # Causal text model + LM head (dense, GELU, LayerNorm, vocabulary projection).
    def __init__(s, t, share=None):
        super().__init__()
        w = t["hidden_size"]
        s.bert = Text(t, share)
        s.dense, s.ln, s.vocab = linear(w, w), nn.LayerNorm(w, eps=t["layer_norm_eps"]), linear(w, t["vocab_size"])

    def cross_kv(s, encoder, beams):
        # Once per input, then shared by its beams (dlip gathers the rows; the beams never change input).
        return [tuple(t.repeat_interleave(beams, 0) for t in layer.cross.project(encoder)) for layer in s.bert.layers]

    def step(s, ids, past, cross):
        """Logits [N, vocab] of the last of the new tokens `ids` [N, t] and the grown cache."""
        n = ids.shape[1]
        length = past[0][0].shape[2] if past else 0
        x = s.bert.embed(ids, length)
        # The prefill is causal over the prefix; a one-token step sees every cached key.
        mask = None if n == 1 else torch.triu(torch.full((n, n), -10000.0), 1)
        grown = []
        for i, layer in enumerate(s.bert.layers):
            x, kv = layer.step(x, past[i] if past else None, mask, cross[i])
            grown.append(kv)
        # Only the last position's logits are read, as dlip's cached decoder.
        return s.vocab(s.ln(F.gelu(s.dense(x[:, -1])))), grown


def beam_search(decoder, encoder, prefix, beams, steps, eos):
    """Beam search after `prefix`, EOS barred (minimum length = maximum), HF's 2·beams candidates per input."""
    batch = encoder.shape[0]
    cross = decoder.cross_kv(encoder, beams)
    seqs = torch.tensor(prefix).repeat(batch * beams, 1)
    # Every input starts with `beams` copies of the prefix, all but the first at −1e9 (as HF and dlip).
    scores = torch.zeros(batch, beams)
    scores[:, 1:] = -1e9
    scores = scores.view(-1)
    logits, past = decoder.step(seqs, None, cross)
    offset = torch.arange(batch)[:, None] * beams
    for i in range(steps):
        if i > 0:
            logits, past = decoder.step(seqs[:, -1:], past, cross)
        logp = logits.log_softmax(-1)
        logp[:, eos] = float("-inf")
        vocab = logp.shape[1]
        top, index = (logp + scores[:, None]).view(batch, beams * vocab).topk(2 * beams, dim=1)
        top, index = top[:, :beams], index[:, :beams]
        parents = (index // vocab + offset).view(-1)
        scores = top.reshape(-1)
        seqs = torch.cat([seqs[parents], (index % vocab).view(-1, 1)], 1)
        past = [(k[parents], v[parents]) for k, v in past]
    return seqs


class PreTraining(nn.Module):
    # dlip's BlipForPreTraining: retrieval heads and the caption decoder.
    def __init__(s, c):
        super().__init__()
        t, v, e = c["text_config"], c["vision_config"], c["image_text_hidden_size"]
        s.vision, s.text = Vision(v), Text(t)
        s.decoder = Decoder(t, s.text if c.get("share_decoder_with_encoder", True) else None)
        s.vision_proj, s.text_proj, s.itm = linear(v["hidden_size"], e), linear(t["hidden_size"], e), linear(t["hidden_size"], 2)


class QuestionAnswering(nn.Module):
    # dlip's BlipForQuestionAnswering: question encoder and its own answer decoder.
    def __init__(s, c):
        super().__init__()
        s.vision, s.text, s.decoder = Vision(c["vision_config"]), Text(c["text_config"]), Decoder(c["text_config"])


REQUIRED = {
    "vision_config": ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size", "patch_size", "layer_norm_eps"],
    "text_config": ["vocab_size", "hidden_size", "encoder_hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                    "max_position_embeddings", "layer_norm_eps", "bos_token_id", "sep_token_id"],
}


def read_config(path):
    with open(path) as f:
        c = json.load(f)
    missing = [f"{part}.{k}" for part, keys in REQUIRED.items() for k in keys if k not in c.get(part, {})]
    if "image_text_hidden_size" not in c:
        missing.append("image_text_hidden_size")
    if missing:
        sys.exit(f"onnx_speed.py: {path} lacks {', '.join(missing)} (pass a complete dlip config)")
    return c


def ints(flag, raw, minimum):
    try:
        values = [int(x) for x in raw.split(",")]
    except ValueError:
        values = []
    if not values or any(x < minimum for x in values):
        sys.exit(f"onnx_speed.py: --{flag} {raw} is not a list of integers ≥ {minimum}")
    return values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text-tokens", type=int, default=16)
    ap.add_argument("--question-tokens", type=int, default=16)
    ap.add_argument("--caption-tokens", type=int, default=20)
    ap.add_argument("--answer-tokens", type=int, default=9)
    ap.add_argument("--prompt", default="1037,3861,1997", help='caption prompt ids after [DEC] (BLIP\'s "a picture of ")')
    args = ap.parse_args()
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        sys.exit("onnx_speed.py: --repeats and --threads must be ≥ 1, --warmup ≥ 0")
    c = read_config(args.config)
    t, v = c["text_config"], c["vision_config"]
    batches = ints("batches", args.batches, 1)
    prompt = [t["bos_token_id"], *ints("prompt", args.prompt, 0)]
    eos = t["sep_token_id"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pre, qa = PreTraining(c).eval(), QuestionAnswering(c).eval()
    rows = []
    with torch.no_grad():
        for batch in batches:
            px = torch.rand(batch, 3, v["image_size"], v["image_size"])
            ids = torch.randint(1000, 30000, (batch, args.text_tokens))
            ids[:, 0] = 101
            mask = torch.ones(batch, args.text_tokens, dtype=torch.long)
            itm_ids = ids.clone()
            itm_ids[:, 0] = 30523
            image = pre.vision(px)
            question = torch.randint(1000, 30000, (batch, args.question_tokens))
            question[:, 0] = 30523
            question_mask = torch.ones(batch, args.question_tokens, dtype=torch.long)
            question_mask[:, args.question_tokens // 2:] = 0  # padded questions, as real ones
            workloads = {
                "image": lambda: pre.vision_proj(pre.vision(px)[:, 0]),
                "text": lambda: pre.text_proj(pre.text(ids, mask)[:, 0]),
                "itm": lambda: pre.itm(pre.text(itm_ids, mask, image)[:, 0]),
                "caption": lambda: beam_search(pre.decoder, pre.vision(px), prompt, 3, args.caption_tokens, eos),
                "vqa": lambda: beam_search(qa.decoder, qa.text(question, question_mask, qa.vision(px)), [t["bos_token_id"]], 3, args.answer_tokens, eos),
            }
            for name, run in workloads.items():
                times = []
                for r in range(args.warmup + args.repeats):
                    started = time.perf_counter()
                    run()
                    if r >= args.warmup:
                        times.append((time.perf_counter() - started) * 1000)
                rows.append({"workload": name, "batch": batch, "ms": statistics.median(times)})
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "repeats": args.repeats,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": rows}))


if __name__ == "__main__":
    main()
