// The teacher-target cache (DLIP §3): what a recipe's KD terms read from the frozen teacher, computed
// once per (training pair, view) in a pre-pass and kept as safetensors shards under a key that hashes
// the teacher's weights, the training pairs, their preprocessing and the recipe's teacher-side needs.
// A cached run reads each batch's rows instead of running the teacher, except ITM's fused pass: the
// student draws new hard negatives every step, so the teacher scores those pairs live, from its cached
// image tokens. The only augmentation is the flip, a function of (seed, epoch, index): every pair's
// unflipped and (when training flips) flipped view are both kept.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../engine/backend.js';
import { linear, matmul } from '../engine/ops.js';
import type { DecodePool } from '../data/pipeline/decode-pool.js';
import { disposeBatch } from '../data/pipeline/loader.js';
import type { Batch } from '../data/pipeline/loader.js';
import type { BlipTokenizer } from '../data/tokenizer.js';
import { worldCacheDir } from '../data/world/synth.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { decodeValues, DTYPE_BYTES, readHeader, writeSafetensors } from '../io/safetensors.js';
import type { SafetensorsHeader, TensorToWrite } from '../io/safetensors.js';
import type { BlipForPreTraining } from '../models/blip.js';
import type { BlipConfig } from '../models/config.js';
import type { EncoderOutput } from '../models/outputs.js';
import { itmPairs } from '../objectives/pretrain.js';
import type { ItmNegatives, PretrainOptions, PretrainTerm } from '../objectives/pretrain.js';
import { flipProbability, pairViewBatches, toPretrainBatch } from '../train/pretrain-data.js';
import type { PretrainData, PretrainItem } from '../train/pretrain-data.js';
import type { PretrainConfig } from '../train/pretrain.js';
import type { TopKTeacher } from './lm-kd.js';
import { recipeNeeds } from './recipe.js';
import type { Recipe } from './recipe.js';
import { disposeRecord, teacherForward } from './teacher.js';
import type { TeacherRecord, TermNeeds } from './terms/index.js';

/** Bumped whenever what a shard holds or how it is computed changes: old caches then miss. */
export const TARGETS_FORMAT = 1;
const INDEX_FILE = 'index.json';
const VIEW_NAMES = ['unflipped', 'flipped'] as const;

const CACHED_MODULES = ['vision', 'text', 'decoder'] as const;
type CachedModule = (typeof CACHED_MODULES)[number];

/** What a cache holds, fixed by its key. */
export interface TargetSpec {
  /** 1: each pair's unflipped view; 2: also its flipped view. */
  views: number;
  /** The teacher parts the recipe reads, by the pretrain term that computes them. */
  terms: PretrainTerm[];
  /** Teacher layers (1-based) kept per module; the fused encoder runs live and is never cached. */
  hiddenStates: Record<CachedModule, number[]>;
  attentions: Record<CachedModule, number[]>;
  /** The teacher's LM logits kept per token (with their log-sum-exp). */
  topK: number;
}

/** The spec a recipe needs from this teacher, for a student of `student`'s shape (its layer maps). */
export function targetSpec(recipe: Recipe, student: BlipConfig, teacher: BlipConfig, views: number, topK: number): TargetSpec {
  const layers = { hiddenStates: { vision: [], text: [], decoder: [] }, attentions: { vision: [], text: [], decoder: [] } } as Pick<TargetSpec, 'hiddenStates' | 'attentions'>;
  for (const { term, options } of recipe.terms) {
    const reads = term.teacherLayers?.(student, teacher, options) ?? {};
    for (const kind of ['hiddenStates', 'attentions'] as const) {
      for (const m of CACHED_MODULES) layers[kind][m] = [...new Set([...layers[kind][m], ...(reads[kind]?.[m] ?? [])])].sort((a, b) => a - b);
    }
  }
  return { views, terms: recipeNeeds(recipe).terms, ...layers, topK: Math.min(topK, teacher.text_config.vocab_size) };
}

/** The options the cache reads: the data side's and where to keep it. */
type TargetConfig = Pick<PretrainConfig, 'data' | 'world' | 'onBadSample' | 'maxWords' | 'batchSize' | 'maxTokens' | 'prompt' | 'seed' | 'flip' | 'evalImages'>;

export interface TargetsOptions {
  teacher: BlipForPreTraining;
  spec: TargetSpec;
  data: PretrainData;
  cfg: TargetConfig;
  objective: PretrainOptions;
  tokenizer: BlipTokenizer;
  pool: DecodePool;
  /** The folder under which each key gets its own folder. */
  root: string;
  /** Pair-views done of all, while building. */
  onProgress?(done: number, total: number): void;
}

/** $DLIP_CACHE/teacher or ~/.cache/dlip/teacher. */
export function defaultTargetsRoot(): string {
  return join(worldCacheDir(), 'teacher');
}

/**
 * The cache key: the teacher (config and every weight's bytes), the training pairs (manifest, pair
 * list, each image file's size and modification time), their preprocessing, the spec and the format.
 */
export function targetsKey(o: Pick<TargetsOptions, 'teacher' | 'spec' | 'data' | 'cfg' | 'objective'>): string {
  const { teacher, data, cfg, objective } = o;
  const hash = createHash('sha256');
  const preprocessing = { imageSize: teacher.config.vision_config.image_size, maxTokens: cfg.maxTokens, prompt: cfg.prompt ?? '', swapsLeftRight: data.builtin, firstToken: 'cls' };
  const tokens = { enc: objective.encTokenId, dec: objective.decTokenId, pad: objective.padTokenId };
  hash.update(JSON.stringify({ format: TARGETS_FORMAT, spec: o.spec, preprocessing, tokens, teacher: teacher.config, manifest: data.dataset.manifest }));
  const images = new Set<string>();
  for (const { pair, imageIndex } of data.items) {
    hash.update(JSON.stringify([pair.image, pair.caption, imageIndex]));
    images.add(pair.image);
  }
  for (const image of images) {
    const stat = statSync(image, { throwIfNoEntry: false });
    hash.update(stat ? `${stat.size}:${stat.mtimeMs}` : 'missing');
  }
  for (const [name, p] of [...teacher.namedParameters()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const values = p.value.dataSync() as Float32Array;
    hash.update(`${name}[${p.shape.join(',')}]`);
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

/** One cached tensor per image or per pair, as the build reads it from a teacher record. */
interface Part {
  name: string;
  of: 'image' | 'pair';
  dtype: 'F32' | 'F16' | 'I32';
  tensor: tf.Tensor;
}

const has = (spec: TargetSpec, term: PretrainTerm) => spec.terms.includes(term);
const usesText = (spec: TargetSpec) => has(spec, 'itc') || has(spec, 'itm');

/**
 * The parts of a teacher record the spec keeps. Hidden states and attention maps are targets only:
 * float16. The image tokens feed the live fused pass and the ITC features the similarities: float32.
 * Unused last states (kept so a cached record has every field a live one has) are float16.
 */
function recordParts(record: TeacherRecord, spec: TargetSpec): Part[] {
  const parts: Part[] = [];
  const encoder = (prefix: string, of: Part['of'], module: CachedModule, out: EncoderOutput | undefined, last: Part['dtype']) => {
    if (!out) throw new Error(`teacher targets: the teacher's record lacks its ${module} outputs`);
    parts.push({ name: `${prefix}.last`, of, dtype: last, tensor: out.lastHiddenState });
    for (const l of spec.hiddenStates[module]) parts.push({ name: `${prefix}.hidden.${l}`, of, dtype: 'F16', tensor: out.hiddenStates![l]! });
    for (const l of spec.attentions[module]) parts.push({ name: `${prefix}.attention.${l}`, of, dtype: 'F16', tensor: out.attentions![l - 1]! });
  };
  encoder('image', 'image', 'vision', record.image, 'F32');
  if (usesText(spec)) {
    encoder('text', 'pair', 'text', record.text, 'F16');
    parts.push({ name: 'image.feature', of: 'image', dtype: 'F32', tensor: record.features!.image }, { name: 'text.feature', of: 'pair', dtype: 'F32', tensor: record.features!.text });
  }
  if (has(spec, 'lm')) {
    encoder('decoder', 'pair', 'decoder', record.decoder, 'F16');
    const top = record.lmTopK!;
    parts.push({ name: 'lm.indices', of: 'pair', dtype: 'I32', tensor: top.indices }, { name: 'lm.logits', of: 'pair', dtype: 'F32', tensor: top.logits }, { name: 'lm.logSumExp', of: 'pair', dtype: 'F32', tensor: top.logSumExp });
  }
  return parts;
}

/**
 * The k largest of `values`[from, from + n) into `ids` / `top` at `to`, in tf.topk's order (descending,
 * the lower index first among equals). A heap of k: tf.topk sorts whole rows, ~3 ms for one of 30,524.
 */
export function topKRow(values: Float32Array, from: number, n: number, k: number, ids: Int32Array, top: Float32Array, to: number): void {
  const hv = new Float32Array(k);
  const hi = new Int32Array(k);
  // The heap's root is the worst kept: the smallest value, the higher index among equals.
  const worse = (a: number, b: number) => hv[a]! < hv[b]! || (hv[a] === hv[b] && hi[a]! > hi[b]!);
  const siftDown = (size: number) => {
    for (let i = 0; ; ) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let m = i;
      if (l < size && worse(l, m)) m = l;
      if (r < size && worse(r, m)) m = r;
      if (m === i) return;
      [hv[i], hv[m], hi[i], hi[m]] = [hv[m]!, hv[i]!, hi[m]!, hi[i]!];
      i = m;
    }
  };
  for (let j = 0; j < n; j++) {
    const x = values[from + j]!;
    if (j < k) {
      // Filling: sift the new entry up.
      hv[j] = x;
      hi[j] = j;
      for (let i = j; i > 0 && worse(i, (i - 1) >> 1); i = (i - 1) >> 1) {
        const p = (i - 1) >> 1;
        [hv[i], hv[p], hi[i], hi[p]] = [hv[p]!, hv[i]!, hi[p]!, hi[i]!];
      }
    } else if (x > hv[0]!) {
      // A later index never beats an equal value, so only a strictly larger one enters.
      hv[0] = x;
      hi[0] = j;
      siftDown(k);
    }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => hv[b]! - hv[a]! || hi[a]! - hi[b]!);
  order.forEach((h, i) => {
    ids[to + i] = hi[h]!;
    top[to + i] = hv[h]!;
  });
}

/**
 * The teacher's k largest LM logits per token and the log-sum-exp of all, from the decoder's states
 * [B, T, W], 256 rows at a time. Only tokens of the caption are computed: pad rows, which no loss
 * reads (a pad predicts nothing and is never predicted), stay 0.
 */
function lmTopK(teacher: BlipForPreTraining, states: tf.Tensor, mask: tf.Tensor, k: number): TopKTeacher {
  const [b, t, w] = states.shape as [number, number, number];
  const { weight, bias } = teacher.textDecoder.cls.projection;
  const vocab = weight.shape[0]!;
  const rows = Array.from(mask.dataSync()).flatMap((m, i) => (m ? [i] : []));
  const ids = new Int32Array(b * t * k);
  const top = new Float32Array(b * t * k);
  const logSumExp = new Float32Array(b * t);
  for (let start = 0; start < rows.length; start += 256) {
    const chunk = rows.slice(start, start + 256);
    const [logits, sums] = tf.tidy(() => {
      const x = linear(tf.gather(states.reshape([b * t, w]), tf.tensor1d(chunk, 'int32')), weight, bias);
      return [x, tf.logSumExp(x, -1)];
    });
    const values = logits.dataSync() as Float32Array;
    const lse = sums.dataSync();
    tf.dispose([logits, sums]);
    chunk.forEach((row, r) => {
      topKRow(values, r * vocab, vocab, k, ids, top, row * k);
      logSumExp[row] = lse[r]!;
    });
  }
  return { indices: tf.tensor3d(ids, [b, t, k], 'int32'), logits: tf.tensor3d(top, [b, t, k]), logSumExp: tf.tensor2d(logSumExp, [b, t]) };
}

/** The teacher's record of one batch as the cache keeps it: no ITM, the LM as top-k. */
function buildRecord(o: TargetsOptions, batch: Batch<PretrainItem>): TeacherRecord {
  const { spec } = o;
  // ITM's parts are computed live on the student's pairs; its text and features come with ITC's.
  const terms: PretrainTerm[] = [...(usesText(spec) ? ['itc' as const] : []), ...(has(spec, 'lm') ? ['lm' as const] : [])];
  const needs: TermNeeds = { terms, hiddenStates: CACHED_MODULES.some((m) => spec.hiddenStates[m].length > 0), attentions: CACHED_MODULES.some((m) => spec.attentions[m].length > 0) };
  const record: TeacherRecord = teacherForward(o.teacher, toPretrainBatch(batch), o.objective, needs);
  if (record.lm) record.lmTopK = lmTopK(o.teacher, record.lm.states, batch.attentionMask!, spec.topK);
  return record;
}

/** Rows of one shard as the build collects them: per part, per image or pair id, one row per view. */
class ShardRows {
  readonly parts = new Map<string, { of: Part['of']; dtype: Part['dtype']; shape: number[]; rows: Map<number, (Float32Array | Int32Array)[]> }>();

  add(parts: Part[], items: PretrainItem[], view: number): void {
    for (const part of parts) {
      const [b, ...shape] = part.tensor.shape;
      let kept = this.parts.get(part.name);
      if (!kept) this.parts.set(part.name, (kept = { of: part.of, dtype: part.dtype, shape, rows: new Map() }));
      const values = part.tensor.dataSync() as Float32Array | Int32Array;
      const size = values.length / b!;
      items.forEach((item, i) => {
        const id = part.of === 'image' ? item.imageIndex : item.index;
        const views = kept.rows.get(id) ?? [];
        kept.rows.set(id, views);
        views[view] ??= values.slice(i * size, (i + 1) * size); // an image's first pair gives its rows
      });
    }
  }

  /** Ids of `of` that have every part in every view (a bad sample left out in a view has none). */
  complete(of: Part['of'], ids: number[], views: number): number[] {
    const parts = [...this.parts.values()].filter((p) => p.of === of);
    return ids.filter((id) => parts.every((p) => Array.from({ length: views }, (_, v) => p.rows.get(id)?.[v]).every(Boolean)));
  }

  tensors(pairs: number[], images: number[], views: number): Map<string, TensorToWrite> {
    const out = new Map<string, TensorToWrite>();
    for (const [name, p] of this.parts) {
      const ids = p.of === 'image' ? images : pairs;
      const size = p.shape.reduce((a, b) => a * b, 1);
      const data = p.dtype === 'I32' ? new Int32Array(ids.length * views * size) : new Float32Array(ids.length * views * size);
      ids.forEach((id, r) => p.rows.get(id)!.forEach((row, v) => data.set(row, (r * views + v) * size)));
      out.set(name, { shape: [ids.length, views, ...p.shape], data, dtype: p.dtype });
    }
    return out;
  }
}

interface ShardRecord {
  file: string;
  pairs: number[];
  images: number[];
  /** Seconds the teacher computed this shard's targets (forward, top-k, read-back): what a live run spends on it. */
  teacherSeconds: number;
}

interface TargetIndex {
  format: number;
  key: string;
  views: string[];
  spec: TargetSpec;
  shards: ShardRecord[];
}

const shardName = (c: number) => `shard-${String(c).padStart(5, '0')}.safetensors`;

/** Temp files of killed builds (writeAtomic names them .<name>.<pid>.<time>.tmp): never read, removed when their writer is gone. */
function removeOrphans(dir: string): void {
  for (const f of readdirSync(dir)) {
    const pid = /^\..*\.(\d+)\.\d+\.tmp$/.exec(f)?.[1];
    if (pid === undefined) continue;
    let alive = Number(pid) !== process.pid;
    try {
      if (alive) process.kill(Number(pid), 0);
    } catch {
      alive = false;
    }
    if (!alive) rmSync(join(dir, f), { force: true });
  }
}

/**
 * Builds the missing shards of `dir` in order (those a killed build completed are kept: each was
 * renamed into place whole), then writes the index, last. Shard c holds images [c·B, (c+1)·B) with
 * all their pairs, B the batch size, so no image is encoded for two shards.
 */
async function build(o: TargetsOptions, dir: string, key: string): Promise<TargetIndex> {
  await mkdir(dir, { recursive: true });
  removeOrphans(dir);
  const { data, spec, cfg } = o;
  const byImage: PretrainItem[][] = [];
  for (const item of data.items) (byImage[item.imageIndex] ??= []).push(item);
  const per = cfg.batchSize;
  const total = data.items.length * spec.views;
  let done = 0;
  const shards: ShardRecord[] = [];
  for (let c = 0; c * per < byImage.length; c++) {
    const images = Array.from({ length: Math.min(per, byImage.length - c * per) }, (_, i) => c * per + i);
    const items = images.flatMap((i) => byImage[i] ?? []);
    const file = join(dir, shardName(c));
    if (existsSync(file)) {
      const meta = (await readHeader(file)).metadata;
      shards.push({ file: shardName(c), pairs: JSON.parse(meta.pairs!), images: JSON.parse(meta.images!), teacherSeconds: Number(meta.teacherSeconds) });
      done += items.length * spec.views;
      o.onProgress?.(done, total);
    } else {
      const rows = new ShardRows();
      let teacherSeconds = 0;
      for (let view = 0; view < spec.views; view++) {
        for await (const batch of pairViewBatches(data, cfg, items, view === 1, o.teacher.config.vision_config.image_size, o.tokenizer, o.pool)) {
          try {
            const started = performance.now();
            const record = buildRecord(o, batch);
            try {
              rows.add(recordParts(record, spec), batch.items, view);
            } finally {
              disposeRecord(record);
            }
            teacherSeconds += (performance.now() - started) / 1000;
          } finally {
            disposeBatch(batch);
          }
          done += batch.items.length;
          o.onProgress?.(done, total);
        }
      }
      const pairs = rows.complete('pair', items.map((i) => i.index), spec.views);
      const kept = rows.complete('image', images, spec.views);
      const metadata = { key, pairs: JSON.stringify(pairs), images: JSON.stringify(kept), teacherSeconds: String(teacherSeconds) };
      await writeSafetensors(file, rows.tensors(pairs, kept, spec.views), metadata);
      shards.push({ file: shardName(c), pairs, images: kept, teacherSeconds });
    }
  }
  const index: TargetIndex = { format: TARGETS_FORMAT, key, views: VIEW_NAMES.slice(0, spec.views), spec, shards };
  await writeJsonAtomic(join(dir, INDEX_FILE), index);
  return index;
}

/** What a cache cost and saves; the per-epoch figures compare like with like (neither counts ITM's live pass). */
export interface TargetsReport {
  dir: string;
  key: string;
  /** False when this run built (or finished building) the cache. */
  reused: boolean;
  views: string[];
  pairs: number;
  bytes: number;
  /** Disk per training pair (all its views) and per pair-view. */
  bytesPerPair: number;
  bytesPerView: number;
  /** Wall seconds this run spent building (0 when reused). */
  buildSeconds: number;
  /** The teacher's compute per epoch of `pairsPerEpoch` pair-views, from the build's throughput. */
  liveTeacherSecondsPerEpoch: number;
  /** Measured once training has read batches: the cache's read cost per epoch, and the teacher time saved. */
  readSecondsPerEpoch?: number;
  savedSecondsPerEpoch?: number;
}

/** An open cache: each batch's teacher record from its shards, plus ITM's fused pass run live. */
export class TeacherTargets {
  private readonly files = new Map<string, { fd: number; header: SafetensorsHeader }>();
  private readonly pairRows = new Map<number, { shard: string; row: number }>();
  private readonly imageRows = new Map<number, { shard: string; row: number }>();
  private readSeconds = 0;
  private readBatches = 0;

  private constructor(
    readonly dir: string,
    private readonly index: TargetIndex,
    private readonly teacher: BlipForPreTraining,
    private readonly objective: PretrainOptions,
    private readonly needs: Required<TermNeeds>,
    readonly report: TargetsReport,
  ) {}

  /**
   * The cache of `o` under `o.root`/<key>: opened when its index exists, else built (resuming from
   * complete shards) first.
   */
  static async open(o: TargetsOptions, needs: Required<TermNeeds>, pairsPerEpoch: number): Promise<TeacherTargets> {
    const key = targetsKey(o);
    const dir = join(o.root, key);
    const indexFile = join(dir, INDEX_FILE);
    const started = performance.now();
    const reused = existsSync(indexFile);
    const index = reused ? (JSON.parse(await readFile(indexFile, 'utf8')) as TargetIndex) : await build(o, dir, key);
    if (index.format !== TARGETS_FORMAT || index.key !== key) throw new Error(`${indexFile}: format ${index.format} / key ${index.key}, expected ${TARGETS_FORMAT} / ${key}; delete ${dir} to rebuild it`);
    const pairs = index.shards.reduce((n, s) => n + s.pairs.length, 0);
    const views = index.views.length;
    let bytes = 0;
    for (const s of index.shards) bytes += statSync(join(dir, s.file), { throwIfNoEntry: false })?.size ?? 0;
    const teacherSeconds = index.shards.reduce((n, s) => n + s.teacherSeconds, 0);
    const report: TargetsReport = {
      dir, key, reused, views: index.views, pairs, bytes,
      bytesPerPair: bytes / Math.max(pairs, 1),
      bytesPerView: bytes / Math.max(pairs * views, 1),
      buildSeconds: reused ? 0 : (performance.now() - started) / 1000,
      liveTeacherSecondsPerEpoch: (teacherSeconds / Math.max(pairs * views, 1)) * pairsPerEpoch,
    };
    const targets = new TeacherTargets(dir, index, o.teacher, o.objective, needs, report);
    try {
      await targets.openShards();
    } catch (err) {
      targets.close();
      throw err;
    }
    return targets;
  }

  private async openShards(): Promise<void> {
    for (const s of this.index.shards) {
      const path = join(this.dir, s.file);
      if (!existsSync(path)) throw new Error(`${join(this.dir, INDEX_FILE)} lists ${s.file}, which is missing; delete ${this.dir} to rebuild the cache`);
      const header = await readHeader(path);
      this.files.set(s.file, { fd: openSync(path, 'r'), header });
      s.pairs.forEach((id, row) => this.pairRows.set(id, { shard: s.file, row }));
      s.images.forEach((id, row) => this.imageRows.set(id, { shard: s.file, row }));
    }
  }

  /** Part `name` of each item's row in its view, as one tensor [B, ...]. */
  private rows(name: string, of: Part['of'], items: readonly PretrainItem[], views: readonly number[]): tf.Tensor {
    let shape: number[] | undefined;
    let dtype = '';
    const chunks = items.map((item, i) => {
      const id = of === 'image' ? item.imageIndex : item.index;
      const at = (of === 'image' ? this.imageRows : this.pairRows).get(id);
      if (!at) throw new Error(`${this.dir}: ${of} ${id} is not in the teacher-target cache (left out as a bad sample when it was built?)`);
      const { fd, header } = this.files.get(at.shard)!;
      const entry = header.entries.get(name);
      if (!entry) throw new Error(`${header.path}: no tensor "${name}"; the cache was built for another recipe (delete ${this.dir} to rebuild it)`);
      shape = entry.shape.slice(2);
      dtype = entry.dtype;
      const count = shape.reduce((a, b) => a * b, 1);
      const bytes = count * DTYPE_BYTES[entry.dtype as keyof typeof DTYPE_BYTES];
      const buffer = Buffer.alloc(bytes);
      const offset = header.dataStart + entry.begin + (at.row * entry.shape[1]! + views[i]!) * bytes;
      if (readSync(fd, buffer, 0, bytes, offset) !== bytes) throw new Error(`${header.path}: tensor "${name}" row ${at.row} is cut short`);
      return decodeValues(entry.dtype, buffer, count, `${header.path}: tensor "${name}"`) as Float32Array | Int32Array;
    });
    const size = chunks[0]!.length;
    const data = dtype === 'I32' ? new Int32Array(size * items.length) : new Float32Array(size * items.length);
    chunks.forEach((c, i) => data.set(c, i * size));
    return tf.tensor(data, [items.length, ...shape!], dtype === 'I32' ? 'int32' : 'float32');
  }

  private encoder(prefix: string, module: CachedModule, get: (name: string) => tf.Tensor): EncoderOutput {
    const { spec } = this.index;
    const layers = module === 'vision' ? this.teacher.config.vision_config.num_hidden_layers : this.teacher.config.text_config.num_hidden_layers;
    const out: EncoderOutput = { lastHiddenState: get(`${prefix}.last`) };
    // Layers the recipe does not map are holes: a term asking for one fails naming the layer.
    if (spec.hiddenStates[module].length > 0) {
      out.hiddenStates = new Array<tf.Tensor>(layers + 1);
      for (const l of spec.hiddenStates[module]) out.hiddenStates[l] = get(`${prefix}.hidden.${l}`);
    }
    if (spec.attentions[module].length > 0) {
      out.attentions = new Array<tf.Tensor>(layers);
      for (const l of spec.attentions[module]) out.attentions[l - 1] = get(`${prefix}.attention.${l}`);
    }
    return out;
  }

  /**
   * The teacher's record of `batch` (kept until disposeRecord; call outside the gradient tape): cached
   * parts read from the shards, ITM's on the student's `negatives` by a live fused pass.
   */
  record(batch: Batch<PretrainItem>, negatives?: ItmNegatives): TeacherRecord {
    const { spec } = this.index;
    if (has(spec, 'itm') && !negatives) throw new Error("distill: the teacher's ITM parts need the student's negatives");
    const views = batch.flipped.map((f) => (f ? 1 : 0));
    if (views.some((v) => v >= spec.views)) throw new Error(`${this.dir}: the batch has flipped images but the cache holds the unflipped view only (built for flip 0)`);
    return tf.tidy(() => {
      const started = performance.now();
      const image = (name: string) => this.rows(name, 'image', batch.items, views);
      const pair = (name: string) => this.rows(name, 'pair', batch.items, views);
      const record: TeacherRecord = { image: this.encoder('image', 'vision', image) };
      if (usesText(spec)) {
        record.text = this.encoder('text', 'text', pair);
        const features = { image: image('image.feature'), text: pair('text.feature') };
        record.features = features;
        if (has(spec, 'itc')) {
          // As pretrainForward without momentum: in-batch candidates at the teacher's temperature.
          const temp = this.teacher.temp.value;
          record.similarity = { imageToText: tf.div(matmul(features.image, features.text, false, true), temp), textToImage: tf.div(matmul(features.text, features.image, false, true), temp) };
        }
      }
      if (has(spec, 'lm')) {
        record.decoder = this.encoder('decoder', 'decoder', pair);
        record.lmTopK = { indices: pair('lm.indices'), logits: pair('lm.logits'), logSumExp: pair('lm.logSumExp') };
      }
      this.readSeconds += (performance.now() - started) / 1000;
      this.readBatches++;
      if (has(spec, 'itm')) {
        const out = { outputHiddenStates: this.needs.hiddenStates, outputAttentions: this.needs.attentions };
        Object.assign(record, itmPairs(this.teacher, record.image.lastHiddenState, toPretrainBatch(batch), negatives!, this.objective, out));
      }
      return record as unknown as tf.TensorContainer;
    }) as unknown as TeacherRecord;
  }

  /** The report with the read cost measured so far, per epoch of `batchesPerEpoch` batches. */
  measured(batchesPerEpoch: number): TargetsReport {
    if (this.readBatches === 0) return this.report;
    const readSecondsPerEpoch = (this.readSeconds / this.readBatches) * batchesPerEpoch;
    return { ...this.report, readSecondsPerEpoch, savedSecondsPerEpoch: this.report.liveTeacherSecondsPerEpoch - readSecondsPerEpoch };
  }

  close(): void {
    for (const { fd } of this.files.values()) closeSync(fd);
    this.files.clear();
  }
}

/** The views training draws: both when it flips, the unflipped one alone when it does not. */
export function trainingViews(data: PretrainData, cfg: Pick<PretrainConfig, 'flip'>): number {
  return flipProbability(data, cfg) > 0 ? 2 : 1;
}
