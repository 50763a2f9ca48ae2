// Contrastive KD: the student's image→text and text→image similarity rows pulled towards the
// teacher's at temperature τ (both already divided by each model's own ITC temperature). A gated
// sample's rows (its image's and its text's) are left out; it stays a candidate in the others' rows.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import { softKl } from '../kl.js';
import { narrowWhole, part } from './types.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), temperature: z.number().positive().default(1) });

export const contrastive: DistillTerm<z.output<typeof schema>> = {
  name: 'contrastive',
  schema,
  needs: () => ({ terms: ['itc'] }),
  check: () => undefined, // similarity rows are [B, B] for any pair
  narrow: (options, has) => narrowWhole(options, has, 'similarity'),
  loss(student, teacher, { options, rows }) {
    const s = part('contrastive', 'student', 'similarity', student.similarity);
    const t = part('contrastive', 'teacher', 'similarity', teacher.similarity);
    const tau = options.temperature;
    const imageRows = softKl(s.imageToText, t.imageToText, tau, rows.keep('vision'));
    return tf.div(tf.add(imageRows, softKl(s.textToImage, t.textToImage, tau, rows.keep('text'))), 2) as tf.Scalar;
  },
};
