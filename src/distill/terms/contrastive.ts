// Contrastive KD: the student's image→text and text→image similarity rows pulled towards the
// teacher's at temperature τ (both already divided by each model's own ITC temperature).
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import { softKl } from '../kl.js';
import { part } from './types.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), temperature: z.number().positive().default(1) });

export const contrastive: DistillTerm<z.output<typeof schema>> = {
  name: 'contrastive',
  schema,
  needs: () => ({ terms: ['itc'] }),
  check: () => undefined, // similarity rows are [B, B] for any pair
  loss(student, teacher, { options }) {
    const s = part('contrastive', 'student', 'similarity', student.similarity);
    const t = part('contrastive', 'teacher', 'similarity', teacher.similarity);
    const tau = options.temperature;
    return tf.div(tf.add(softKl(s.imageToText, t.imageToText, tau), softKl(s.textToImage, t.textToImage, tau)), 2) as tf.Scalar;
  },
};
