// BLIP's momentum encoders and feature queues for ITC: an exponential moving average of the image
// and text towers and their projections, and the last Q momentum features as extra negatives.
import { z } from 'zod';
import { tf } from '../engine/backend.js';
import type { TensorToWrite } from '../io/safetensors.js';
import { createModel, l2Normalize } from '../models/blip.js';
import type { BlipForImageTextRetrieval } from '../models/blip.js';
import type { Parameter } from '../nn/module.js';
import { createRng, fillNormal } from '../nn/init.js';

/** The parts BLIP keeps a momentum copy of. */
const MOMENTUM_PREFIXES = ['vision_model.', 'vision_proj.', 'text_encoder.', 'text_proj.'];

export class MomentumContrast {
  readonly model: BlipForImageTextRetrieval;
  private readonly pairs: [online: Parameter, momentum: Parameter][] = [];
  readonly imageQueue: tf.Variable;
  readonly textQueue: tf.Variable;
  /** Image ids of queued features (−1: a random initial entry that matches nothing). */
  queueIds: number[];
  pointer = 0;

  constructor(
    online: BlipForImageTextRetrieval,
    readonly queueSize: number,
    readonly momentum: number,
    seed: number,
  ) {
    this.model = createModel(online.config, 'BlipForImageTextRetrieval') as BlipForImageTextRetrieval;
    const momentumParams = this.model.namedParameters();
    for (const [name, p] of online.namedParameters()) {
      if (!MOMENTUM_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
      const copy = momentumParams.get(name)!;
      copy.assign(p.value.dataSync() as Float32Array, false);
      this.pairs.push([p, copy]);
    }
    const width = online.config.image_text_hidden_size;
    const rng = createRng(seed);
    const randomFeatures = () => tf.tidy(() => l2Normalize(tf.tensor2d(fillNormal(new Float32Array(queueSize * width), 1, rng), [queueSize, width])));
    this.imageQueue = tf.variable(randomFeatures(), false);
    this.textQueue = tf.variable(randomFeatures(), false);
    this.queueIds = new Array<number>(queueSize).fill(-1);
  }

  /** momentum ← m·momentum + (1 − m)·online, for every copied parameter. */
  update(): void {
    const m = this.momentum;
    for (const [online, copy] of this.pairs) {
      tf.tidy(() => copy.value.assign(tf.add(tf.mul(copy.value, m), tf.mul(online.value, 1 - m))));
    }
  }

  /** Pushes a batch of momentum features (ring buffer; BLIP requires Q divisible by the batch). */
  enqueue(imageFeatures: tf.Tensor, textFeatures: tf.Tensor, ids: readonly number[]): void {
    const b = ids.length;
    if (this.queueSize === 0) return;
    if (this.queueSize % b !== 0) throw new Error(`queue size ${this.queueSize} is not a multiple of the batch size ${b}`);
    const at = this.pointer;
    tf.tidy(() => {
      const put = (queue: tf.Variable, feats: tf.Tensor) => {
        const parts = [queue.slice([0, 0], [at, -1]), feats, queue.slice([at + b, 0], [-1, -1])];
        queue.assign(tf.concat(parts.filter((p) => p.shape[0]! > 0), 0));
      };
      put(this.imageQueue, imageFeatures);
      put(this.textQueue, textFeatures);
    });
    ids.forEach((id, i) => (this.queueIds[at + i] = id));
    this.pointer = (at + b) % this.queueSize;
  }

  /** What a resume needs: momentum weights and queues as tensors, the ring position as JSON. */
  state(): { tensors: Map<string, TensorToWrite>; json: { pointer: number; queueIds: number[] } } {
    const tensors = new Map<string, TensorToWrite>();
    for (const [name, p] of this.model.namedParameters()) {
      if (p.materialized) tensors.set(`momentum.${name}`, { shape: [...p.shape], data: () => p.value.dataSync() as Float32Array });
    }
    tensors.set('queue.image', { shape: [...this.imageQueue.shape], data: () => this.imageQueue.dataSync() as Float32Array });
    tensors.set('queue.text', { shape: [...this.textQueue.shape], data: () => this.textQueue.dataSync() as Float32Array });
    return { tensors, json: { pointer: this.pointer, queueIds: this.queueIds } };
  }

  /** Restores what `state` saved; `source` names the checkpoint in errors. */
  loadState(tensors: Map<string, { data: Float32Array | BigInt64Array | Int32Array }>, json: unknown, source: string): void {
    const parsed = z.object({ pointer: z.number().int().nonnegative(), queueIds: z.array(z.number()).length(this.queueSize) }).safeParse(json);
    if (!parsed.success) throw new Error(`${source}: momentum queue state does not fit a queue of ${this.queueSize} (resume with the queue size the run was trained with):\n${z.prettifyError(parsed.error)}`);
    const image = tensors.get('queue.image');
    const text = tensors.get('queue.text');
    if (!image || !text) throw new Error(`${source}: lacks the momentum queues (queue.image, queue.text)`);
    for (const [name, p] of this.model.namedParameters()) {
      const t = tensors.get(`momentum.${name}`);
      if (t) p.assign(t.data as Float32Array, false);
    }
    // tidy frees the temporary tensors; the queue variables keep their own reference to the data.
    tf.tidy(() => {
      this.imageQueue.assign(tf.tensor(image.data as Float32Array, this.imageQueue.shape));
      this.textQueue.assign(tf.tensor(text.data as Float32Array, this.textQueue.shape));
    });
    this.pointer = parsed.data.pointer;
    this.queueIds = parsed.data.queueIds;
  }

  dispose(): void {
    this.model.dispose();
    this.imageQueue.dispose();
    this.textQueue.dispose();
  }
}
