// The three parameterised layers BLIP is made of, named as in PyTorch so keys match checkpoints.
import { tf } from '../engine/backend.js';
import { gatherRows, layerNorm, linear } from '../engine/ops.js';
import { Module } from './module.js';
import type { Parameter } from './module.js';

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], { kind: 'normal' });
    this.bias = this.param('bias', [outFeatures], { kind: 'zeros' });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight.value, this.bias.value);
  }

  /** Multiply-accumulates for `tokens` input rows, for FLOP counts. */
  macs(tokens: number): number {
    return tokens * this.inFeatures * this.outFeatures;
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    width: number,
    readonly eps: number,
  ) {
    super();
    this.weight = this.param('weight', [width], { kind: 'ones' });
    this.bias = this.param('bias', [width], { kind: 'zeros' });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.weight.value, this.bias.value, this.eps);
  }
}

export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(count: number, width: number) {
    super();
    this.weight = this.param('weight', [count, width], { kind: 'normal' });
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return gatherRows(this.weight.value, ids);
  }
}
