// What a model costs: parameters per module and analytic FLOPs per task, from shapes alone
// (models are built as skeletons, so even blip-base is counted without allocating it).
import { createModel, FLOP_LENGTHS } from '../models/blip.js';
import { ARCHITECTURES } from '../models/config.js';
import type { Architecture, BlipConfig } from '../models/config.js';

export interface TaskCost {
  architecture: Architecture;
  parameters: number;
  /** Parameters by top-level module (vision_model, text_encoder, …); shared ones count once, under the first owner. */
  parametersByModule: Record<string, number>;
  /**
   * FLOPs of one forward on one example at the configured image size: 2 × multiply-accumulates of
   * every matmul (linear layers, patch embedding, attention scores and weighted sums); norms,
   * activations and softmax are left out (under 1% at these sizes). Text lengths: FLOP_LENGTHS.
   */
  flops: number;
  /** Weight keys by top-level module. */
  keysByModule: Record<string, number>;
}

export function taskCost(config: BlipConfig, architecture: Architecture): TaskCost {
  const model = createModel(config, architecture);
  const parametersByModule: Record<string, number> = {};
  const keysByModule: Record<string, number> = {};
  let parameters = 0;
  for (const [name, p] of model.namedParameters()) {
    const top = name.split('.')[0]!;
    parametersByModule[top] = (parametersByModule[top] ?? 0) + p.size;
    keysByModule[top] = (keysByModule[top] ?? 0) + 1;
    parameters += p.size;
  }
  return { architecture, parameters, parametersByModule, flops: 2 * model.macs(), keysByModule };
}

export interface ModelCost {
  imageSize: number;
  textLengths: typeof FLOP_LENGTHS;
  tasks: TaskCost[];
}

export function modelCost(config: BlipConfig): ModelCost {
  return {
    imageSize: config.vision_config.image_size,
    textLengths: FLOP_LENGTHS,
    tasks: ARCHITECTURES.map((a) => taskCost(config, a)),
  };
}
