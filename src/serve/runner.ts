// The model side of serving, run inside the worker thread: loads a model, checks it can serve
// (tokenizer vocabulary, finite outputs on a warm-up of every capability) and runs batches of jobs.
// Inference goes through the same eval functions as `dlip eval` (generateCaptions, generateVqaAnswers),
// on the TypeScript model or, with the onnx runtime, on its graphs in onnxruntime (OnnxBlipModel).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import sharp from 'sharp';
import { tf } from '../engine/backend.js';
import { captionPromptOf, loadModel, readManifest, resolveModelPath, sha256File, weightFiles } from '../io/checkpoint.js';
import { l2Normalize } from '../models/blip.js';
import { OnnxBlipModel } from '../onnx/runtime-model.js';
import { loadRgb, normaliseToChw } from '../data/image.js';
import { defaultTokenizer, PAD_ID, SEP_ID, VOCAB_SIZE } from '../data/tokenizer.js';
import { preCaption, preQuestion } from '../data/text.js';
import { generateCaptions } from '../eval/generate.js';
import { generateVqaAnswers, rankVqaAnswers } from '../eval/vqa.js';
import { canAnswer, canCaption, isRetrieval } from '../eval/model-kinds.js';
import type { EvaluableModel } from '../eval/model-kinds.js';
import { runtimeLabel } from './protocol.js';
import type { Capability, GenerationParams, ItemResult, Job, JobKind, JobValues, ModelInfo, Runtime } from './protocol.js';

/** BLIP's text length for retrieval and questions (capped by the model's position table). */
const TEXT_TOKENS = 35;

function capabilities(model: EvaluableModel): Capability[] {
  const caps: Capability[] = [];
  if (isRetrieval(model)) caps.push('embed', 'itm');
  if (canCaption(model)) caps.push('caption');
  if (canAnswer(model)) caps.push('vqa');
  return caps;
}

/** The manifest's sha256 when there is one, else a hash over every weight file's sha256. */
async function weightsVersion(dir: string): Promise<string> {
  const manifest = await readManifest(dir);
  if (manifest) return manifest.sha256.slice(0, 12);
  const hash = createHash('sha256');
  for (const { file } of await weightFiles(dir)) hash.update(await sha256File(file));
  return hash.digest('hex').slice(0, 12);
}

const NEEDED: Record<JobKind, Capability> = { 'image-embed': 'embed', 'text-embed': 'embed', itm: 'itm', caption: 'caption', vqa: 'vqa', 'vqa-rank': 'vqa' };

type Outcome<T> = ItemResult<T>;
const fail = <T>(status: number, code: string, message: string): Outcome<T> => ({ ok: false, status, code, message });

export class ModelRunner {
  private constructor(
    readonly model: EvaluableModel,
    readonly info: ModelInfo,
  ) {}

  /**
   * Loads `spec`, refuses a model the tokenizer cannot drive, puts it on `runtime`, warms every
   * capability up (on that runtime: the warm-up checks what will serve).
   */
  static async load(spec: string, runtime: Runtime): Promise<ModelRunner> {
    const started = performance.now();
    const dir = await resolveModelPath(spec);
    const { model: loaded, manifest } = await loadModel(dir);
    let model: EvaluableModel = loaded;
    try {
      const t = model.config.text_config;
      if (t.vocab_size < VOCAB_SIZE) {
        throw new Error(`${join(dir, 'config.json')}: text_config.vocab_size ${t.vocab_size} is smaller than BLIP's tokenizer (${VOCAB_SIZE} ids); dlip serve needs a model trained with it`);
      }
      const caps = capabilities(model);
      const info: ModelInfo = {
        spec,
        dir,
        architecture: model.architecture,
        version: await weightsVersion(dir),
        parameters: loaded.parameterCount(),
        imageSize: model.config.vision_config.image_size,
        embeddingDim: caps.includes('embed') ? model.config.image_text_hidden_size : 0,
        capabilities: caps,
        runtime: runtimeLabel(runtime),
        captionPrompt: captionPromptOf(manifest),
        loadSeconds: 0,
        warmupSeconds: 0,
      };
      if (runtime.engine === 'onnx') {
        model = OnnxBlipModel.fromModel(loaded, { quantize: runtime.quantize });
        // The graphs hold their own copy of the weights; the tfjs one would only take memory.
        loaded.dispose();
      }
      info.loadSeconds = (performance.now() - started) / 1000;
      const runner = new ModelRunner(model, info);
      const warm = performance.now();
      await runner.warmUp();
      info.warmupSeconds = (performance.now() - warm) / 1000;
      return runner;
    } catch (err) {
      await model.dispose(); // the tfjs model, or the graphs that replaced it (it is disposed then)
      throw err;
    }
  }

  /** One job of every capability on a grey image: a model with NaN weights or broken shapes fails here, not on a user. */
  private async warmUp(): Promise<void> {
    const s = this.info.imageSize;
    const image = await sharp({ create: { width: s, height: s, channels: 3, background: { r: 128, g: 120, b: 110 } } }).png().toBuffer();
    const finite = (xs: ArrayLike<number>, what: string) => {
      for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i]!)) throw new Error(`warm-up: the model's ${what} is not finite (${xs[i]}); refusing to serve it`);
    };
    const check = <T>(results: ItemResult<T>[], what: string): T => {
      const r = results[0]!;
      if (!r.ok) throw new Error(`warm-up: ${what} failed: ${r.message}`);
      return r.value;
    };
    const caps = this.info.capabilities;
    const params: GenerationParams = { beams: 1, maxLength: 8, minLength: 0, prompt: '' };
    if (caps.includes('embed')) {
      finite(check((await this.run({ kind: 'image-embed', items: [image] })) as ItemResult<Float32Array>[], 'image embedding'), 'image embedding');
      finite(check((await this.run({ kind: 'text-embed', items: ['a warm up'] })) as ItemResult<Float32Array>[], 'text embedding'), 'text embedding');
      finite(check((await this.run({ kind: 'itm', items: [{ image, texts: ['a warm up'] }] })) as ItemResult<JobValues['itm']>[], 'ITM').flat(), 'ITM logits');
    }
    if (caps.includes('caption')) this.checkGenerated(await this.generate('caption', [image], params), 'caption');
    if (caps.includes('vqa')) this.checkGenerated(await this.generate('vqa', [{ image, question: 'what is it?' }], params), 'answer');
  }

  private checkGenerated(results: ItemResult<{ text: string; logProb: number }>[], what: string): void {
    const r = results[0]!;
    if (!r.ok) throw new Error(`warm-up: ${what} generation failed: ${r.message}`);
    if (!Number.isFinite(r.value.logProb)) throw new Error(`warm-up: the ${what}'s log-probability is not finite (${r.value.logProb}); refusing to serve this model`);
  }

  /** Decodes each image at the model's resolution; an undecodable one becomes its item's error. */
  private async pixels(images: readonly Uint8Array[]): Promise<{ tensor?: tf.Tensor4D; errors: (string | undefined)[] }> {
    const s = this.info.imageSize;
    const plane = 3 * s * s;
    const decoded = await Promise.all(
      images.map((bytes) => loadRgb(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { size: s }).then(
        (rgb) => ({ rgb }),
        (err: Error) => ({ error: `the image could not be decoded (${err.message})` }),
      )),
    );
    const good = decoded.filter((d): d is { rgb: Buffer } => 'rgb' in d);
    const errors = decoded.map((d) => ('error' in d ? d.error : undefined));
    if (good.length === 0) return { errors };
    const data = new Float32Array(good.length * plane);
    good.forEach((d, i) => normaliseToChw(d.rgb, s, data, i * plane));
    return { tensor: tf.tensor4d(data, [good.length, 3, s, s]), errors };
  }

  /** Spreads the results of the decodable items back over every item. */
  private static spread<T>(errors: (string | undefined)[], values: T[]): Outcome<T>[] {
    let next = 0;
    return errors.map((e) => (e ? fail<T>(400, 'bad_image', e) : { ok: true, value: values[next++]! }));
  }

  private textTokens(): number {
    return Math.min(TEXT_TOKENS, this.model.config.text_config.max_position_embeddings);
  }

  async run(job: Job): Promise<Outcome<unknown>[]> {
    // A request checked against the previous model can reach this one after a hot swap.
    if (!this.info.capabilities.includes(NEEDED[job.kind])) {
      const message = `the served model ${this.info.spec} is a ${this.info.architecture} and cannot run ${job.kind}`;
      return job.items.map(() => fail(400, 'unsupported', message));
    }
    switch (job.kind) {
      case 'image-embed': return this.embedImages(job.items);
      case 'text-embed': return this.embedTexts(job.items);
      case 'itm': return this.itm(job.items);
      case 'caption': return (await this.generate('caption', job.items, job.params)).map((r) => (r.ok ? { ok: true, value: r.value.text } : r));
      case 'vqa': return (await this.generate('vqa', job.items, job.params)).map((r) => (r.ok ? { ok: true, value: r.value.text } : r));
      case 'vqa-rank': return this.rankAnswers(job.items, job.answers);
    }
  }

  private retrieval() {
    if (!isRetrieval(this.model)) throw new Error(`a ${this.model.architecture} has no ITC/ITM heads`);
    return this.model;
  }

  private async embedImages(images: Uint8Array[]): Promise<Outcome<JobValues['image-embed']>[]> {
    const model = this.retrieval();
    const { tensor, errors } = await this.pixels(images);
    if (!tensor) return ModelRunner.spread(errors, []);
    const rows = tf.tidy(() => l2Normalize(model.imageProjection(model.encodeImage(tensor).lastHiddenState)));
    tensor.dispose();
    return ModelRunner.spread(errors, ModelRunner.split(rows));
  }

  private embedTexts(texts: string[]): Outcome<JobValues['text-embed']>[] {
    const model = this.retrieval();
    const enc = defaultTokenizer().encodeToTensors(texts.map((t) => preCaption(t, 30)), { maxLength: this.textTokens(), firstToken: 'cls' });
    const rows = tf.tidy(() => l2Normalize(model.textProjection(model.encodeText(enc.inputIds, enc.attentionMask).lastHiddenState)));
    tf.dispose([enc.inputIds, enc.attentionMask]);
    return ModelRunner.split(rows).map((value) => ({ ok: true, value }));
  }

  /** Rows of a [N, D] tensor as Float32Arrays; disposes it. */
  private static split(rows: tf.Tensor): Float32Array[] {
    const [n, d] = rows.shape as [number, number];
    const data = rows.dataSync() as Float32Array;
    rows.dispose();
    return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
  }

  /** ITM logits of each image against each of its texts, [ENC] first as BLIP trains and evaluates it. */
  private async itm(items: { image: Uint8Array; texts: string[] }[]): Promise<Outcome<JobValues['itm']>[]> {
    const model = this.retrieval();
    const { tensor, errors } = await this.pixels(items.map((i) => i.image));
    if (!tensor) return ModelRunner.spread(errors, []);
    const good = items.filter((_, i) => !errors[i]);
    const texts = good.flatMap((it) => it.texts.map((t) => preCaption(t, 30)));
    const rows = good.flatMap((it, i) => it.texts.map(() => i));
    const enc = defaultTokenizer().encodeToTensors(texts, { maxLength: this.textTokens(), firstToken: 'enc' });
    const logits = tf.tidy(() => {
      const embeds = model.encodeImage(tensor).lastHiddenState;
      const states = model.encodeMultimodal(enc.inputIds, enc.attentionMask, tf.gather(embeds, tf.tensor1d(rows, 'int32'))).lastHiddenState;
      return model.itmLogits(states);
    });
    const data = logits.dataSync();
    tf.dispose([logits, tensor, enc.inputIds, enc.attentionMask]);
    let next = 0;
    const values = good.map((it) => it.texts.map(() => {
      const pair: [number, number] = [data[2 * next]!, data[2 * next + 1]!];
      next++;
      return pair;
    }));
    return ModelRunner.spread(errors, values);
  }

  /** Token ids of a caption prompt: between [CLS] and [SEP]. */
  private static promptIds(prompt: string): number[] {
    return prompt === '' ? [] : defaultTokenizer().encodeOne(prompt).filter((id) => id !== SEP_ID).slice(1);
  }

  private async generate(kind: 'caption', items: Uint8Array[], params: GenerationParams): Promise<Outcome<{ text: string; logProb: number }>[]>;
  private async generate(kind: 'vqa', items: { image: Uint8Array; question: string }[], params: GenerationParams): Promise<Outcome<{ text: string; logProb: number }>[]>;
  private async generate(kind: 'caption' | 'vqa', items: (Uint8Array | { image: Uint8Array; question: string })[], params: GenerationParams): Promise<Outcome<{ text: string; logProb: number }>[]> {
    const model = this.model;
    const tokenizer = defaultTokenizer();
    const prompt = kind === 'caption' ? ModelRunner.promptIds(params.prompt) : [];
    const positions = this.model.config.text_config.max_position_embeddings;
    const prefix = 1 + prompt.length;
    if (params.maxLength <= prefix || params.maxLength > positions) {
      const message = `max_length ${params.maxLength} must exceed the ${prefix} tokens of [DEC]${prompt.length ? ' and the prompt' : ''} and be at most the model's ${positions} positions`;
      return items.map(() => fail(400, 'bad_parameter', message));
    }
    const images = items.map((it) => (it instanceof Uint8Array ? it : it.image));
    const { tensor, errors } = await this.pixels(images);
    if (!tensor) return ModelRunner.spread(errors, []);
    const options = { numBeams: params.beams, maxLength: params.maxLength, minLength: params.minLength };
    let generated;
    if (kind === 'caption' && canCaption(model)) {
      generated = generateCaptions(model, tensor, { ...options, prompt });
    } else if (kind === 'vqa' && canAnswer(model)) {
      const questions = items.filter((_, i) => !errors[i]).map((it) => preQuestion((it as { question: string }).question));
      const q = tokenizer.encodeToTensors(questions, { maxLength: this.textTokens(), firstToken: 'enc' });
      try {
        generated = generateVqaAnswers(model, tensor, q.inputIds, q.attentionMask, options);
      } finally {
        tf.dispose([q.inputIds, q.attentionMask]);
      }
    } else {
      tensor.dispose();
      throw new Error(`a ${model.architecture} cannot run ${kind}`); // run() checked the capability first
    }
    tensor.dispose();
    return ModelRunner.spread(errors, generated.map((g) => ({ text: tokenizer.decode(g.tokens), logProb: g.logProb })));
  }

  /** BLIP's rank_answer over `answers`: first-token probabilities, then the top 128 by sequence likelihood. */
  private async rankAnswers(items: { image: Uint8Array; question: string }[], answers: string[]): Promise<Outcome<JobValues['vqa-rank']>[]> {
    const model = this.model;
    if (!canAnswer(model)) throw new Error(`a ${model.architecture} cannot answer questions`);
    const tokenizer = defaultTokenizer();
    const { tensor, errors } = await this.pixels(items.map((it) => it.image));
    if (!tensor) return ModelRunner.spread(errors, []);
    const questions = items.filter((_, i) => !errors[i]).map((it) => preQuestion(it.question));
    const q = tokenizer.encodeToTensors(questions, { maxLength: this.textTokens(), firstToken: 'enc' });
    const candidates = answers.map((a) => tokenizer.encodeOne(a).slice(1, -1));
    try {
      const ranked = rankVqaAnswers(model, tensor, q.inputIds, q.attentionMask, candidates, { k: Math.min(128, answers.length), padTokenId: PAD_ID });
      return ModelRunner.spread(errors, ranked.map((r) => ({ index: r.index, score: r.score })));
    } finally {
      tf.dispose([q.inputIds, q.attentionMask, tensor]);
    }
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
