// Learned linear maps from a student's hidden width to its teacher's, one per mapped student layer, so
// hidden-state KD can compare states of different widths. They are ordinary modules: named parameters
// (`<tower>.<student layer>.weight` / `.bias`), the seeded init, trained, saved and loaded as the rest.
import type { tf } from '../engine/backend.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { fmt } from './checks.js';
import type { LayerPair } from './layer-map.js';

/** One tower's adaptors, named by student layer number; identity (no parameters) when widths match. */
export class LayerAdaptors extends Module {
  private readonly mapped = new Set<number>();
  private readonly linears = new Map<number, Linear>();

  constructor(
    pairs: readonly LayerPair[],
    readonly studentWidth: number,
    readonly teacherWidth: number,
  ) {
    super();
    for (const [s] of pairs) {
      if (this.mapped.has(s)) throw new Error(`adaptors: student layer ${s} is mapped more than once`);
      this.mapped.add(s);
      if (studentWidth !== teacherWidth) this.linears.set(s, this.child(String(s), new Linear(studentWidth, teacherWidth)));
    }
  }

  /** Student layer `layer`'s states [..., Ws] in the teacher's width [..., Wt]. */
  forward(layer: number, states: tf.Tensor): tf.Tensor {
    if (!this.mapped.has(layer)) throw new Error(`adaptors: student layer ${layer} is not mapped (mapped: ${[...this.mapped].join(', ')})`);
    if (states.shape[states.rank - 1] !== this.studentWidth) {
      throw new Error(`adaptors: student layer ${layer} states ${fmt(states.shape)} do not end in the student width ${this.studentWidth}`);
    }
    return this.linears.get(layer)?.forward(states) ?? states;
  }
}

/** Several towers' adaptors under one module, e.g. { vision, text } → `vision.3.weight`. */
export class AdaptorSet extends Module {
  constructor(readonly towers: Readonly<Record<string, LayerAdaptors>>) {
    super();
    for (const [name, tower] of Object.entries(towers)) this.child(name, tower);
  }
}
