// Feature KD of each model's summary vectors: the normalised ITC image and text features, and the
// first-token ([ENC] / [DEC]) states of the fused encoder and the decoder. No adaptors: the compared
// widths must match. Gated rows are left out of the mean.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import type { BlipConfig } from '../../models/config.js';
import type { PretrainRecord, PretrainTerm } from '../../objectives/pretrain.js';
import { featureKd } from '../feature-kd.js';
import type { ModuleName } from './modules.js';
import { part } from './types.js';
import type { DistillTerm, RecordPart } from './types.js';

const FEATURES = ['image', 'text', 'fused', 'decoder'] as const;
type Feature = (typeof FEATURES)[number];

const schema = z.strictObject({
  weight: z.number().nonnegative(),
  kind: z.enum(['cosine', 'mse']).default('cosine'),
  features: z.array(z.enum(FEATURES)).min(1).default(['image', 'text']),
});

const TERM_OF: Record<Feature, PretrainTerm> = { image: 'itc', text: 'itc', fused: 'itm', decoder: 'lm' };
/** The record part each feature is read from, and the module whose rows it has. */
const PART_OF: Record<Feature, RecordPart> = { image: 'features', text: 'features', fused: 'fused', decoder: 'decoder' };
const MODULE_OF: Record<Feature, ModuleName> = { image: 'vision', text: 'text', fused: 'fused', decoder: 'decoder' };

function widthOf(config: BlipConfig, feature: Feature): number {
  return feature === 'image' || feature === 'text' ? config.image_text_hidden_size : config.text_config.hidden_size;
}

function firstToken(states: tf.Tensor): tf.Tensor {
  const [n, , w] = states.shape as [number, number, number];
  return states.slice([0, 0, 0], [n, 1, w]).reshape([n, w]);
}

function featureOf(record: PretrainRecord, feature: Feature, who: string): tf.Tensor {
  if (feature === 'fused') return firstToken(part('feature', who, 'fused outputs', record.fused).lastHiddenState);
  if (feature === 'decoder') return firstToken(part('feature', who, 'decoder outputs', record.decoder).lastHiddenState);
  return part('feature', who, 'ITC features', record.features)[feature];
}

export const feature: DistillTerm<z.output<typeof schema>> = {
  name: 'feature',
  schema,
  needs: (options) => ({ terms: [...new Set(options.features.map((f) => TERM_OF[f]))] }),
  check(student, teacher, options) {
    for (const f of options.features) {
      const [s, t] = [widthOf(student, f), widthOf(teacher, f)];
      if (s !== t) throw new Error(`terms.feature.features: "${f}" is ${s} wide in the student and ${t} in the teacher; feature KD compares equal widths only (use the hidden term, which has adaptors)`);
    }
  },
  narrow(options, has) {
    const features = options.features.filter((f) => has(PART_OF[f]));
    const dropped = options.features.filter((f) => !features.includes(f)).map((f) => `features.${f}`);
    return { options: features.length > 0 ? { ...options, features } : undefined, dropped };
  },
  loss(student, teacher, { options, rows }) {
    const losses = options.features.map((f) => featureKd(featureOf(student, f, 'student'), featureOf(teacher, f, 'teacher'), options.kind, rows.keep(MODULE_OF[f])));
    return tf.div(tf.addN(losses), losses.length) as tf.Scalar;
  },
};
