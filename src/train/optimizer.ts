// AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's torch.optim.AdamW semantics).
// Hand-written because tfjs ships Adam without decoupled decay; its state is plain named tensors so
// a checkpoint can hold it and a resumed run continues bit for bit. The update itself is
// ops.adamwUpdate (one fused kernel on the native backend).
import { tf } from '../engine/backend.js';
import { adamwUpdate } from '../engine/ops.js';
import { Parameter } from '../nn/module.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Norms, biases, the temperature and position/class embeddings are not decayed (timm's rule). */
export function decays(name: string, p: Parameter): boolean {
  return p.shape.length >= 2 && !/(position_embeddings?(\.weight)?|class_embedding)$/.test(name);
}

/** A zero-filled, non-trainable variable; the zeros it starts from are freed (the variable keeps the data). */
function zerosVariable(shape: readonly number[]): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros([...shape]), false));
}

interface Slot {
  name: string;
  variable: tf.Variable;
  decay: boolean;
  m: tf.Variable;
  v: tf.Variable;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly slots: Slot[];
  /** Updates applied so far (bias correction uses it). */
  step = 0;

  /** `params`: a model's parameters by name, decayed or not by `decays`. */
  constructor(params: Map<string, Parameter>, options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.05;
    this.slots = [...params].map(([name, param]) => ({
      name,
      variable: param.value,
      decay: decays(name, param),
      m: zerosVariable(param.shape),
      v: zerosVariable(param.shape),
    }));
  }

  /** For plain variables (benchmarks): matrices are decayed, vectors not. */
  static forVariables(variables: readonly tf.Variable[], options: AdamWOptions = {}): AdamW {
    const params = new Map(variables.map((v) => [v.name, Parameter.wrap(v)] as const));
    return new AdamW(params, options);
  }

  /** The variables to differentiate, in slot order. */
  get variables(): tf.Variable[] {
    return this.slots.map((s) => s.variable);
  }

  /** Applies one update from `grads` (by variable name) at learning rate `lr`. */
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.step++;
    const bias1 = 1 - this.beta1 ** this.step;
    const bias2 = 1 - this.beta2 ** this.step;
    for (const s of this.slots) {
      const g = grads[s.variable.name];
      if (!g) continue; // a parameter this objective does not reach
      const weightDecay = s.decay ? this.weightDecay : 0;
      adamwUpdate(s.variable, g, s.m, s.v, { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay, bias1, bias2 });
    }
  }

  /** Moment estimates by parameter name (`<name>.exp_avg`, `<name>.exp_avg_sq`), for checkpoints. */
  stateTensors(): Map<string, { shape: number[]; data: () => Float32Array }> {
    const out = new Map<string, { shape: number[]; data: () => Float32Array }>();
    for (const s of this.slots) {
      out.set(`${s.name}.exp_avg`, { shape: [...s.m.shape], data: () => s.m.dataSync() as Float32Array });
      out.set(`${s.name}.exp_avg_sq`, { shape: [...s.v.shape], data: () => s.v.dataSync() as Float32Array });
    }
    return out;
  }

  /** Restores moments saved by stateTensors; every slot must be present. */
  loadState(tensors: Map<string, { data: Float32Array | BigInt64Array | Int32Array }>, step: number, source: string): void {
    const missing = this.slots.filter((s) => !tensors.has(`${s.name}.exp_avg`) || !tensors.has(`${s.name}.exp_avg_sq`)).map((s) => s.name);
    if (missing.length) throw new Error(`${source}: optimizer state lacks ${missing.length} parameter(s), e.g. ${missing.slice(0, 3).join(', ')}`);
    for (const s of this.slots) {
      // tidy frees the temporary tensors; the variables keep their own reference to the data.
      tf.tidy(() => {
        s.m.assign(tf.tensor(tensors.get(`${s.name}.exp_avg`)!.data as Float32Array, s.m.shape));
        s.v.assign(tf.tensor(tensors.get(`${s.name}.exp_avg_sq`)!.data as Float32Array, s.v.shape));
      });
    }
    this.step = step;
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
    }
  }
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_);
 * returns the norm before clipping.
 */
export function clipGradNorm(grads: tf.NamedTensorMap, maxNorm: number): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))).dataSync()[0]!);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const k of Object.keys(grads)) {
      const old = grads[k]!;
      grads[k] = tf.mul(old, coef);
      old.dispose();
    }
  }
  return norm;
}
