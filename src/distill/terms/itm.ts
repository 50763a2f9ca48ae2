// ITM KD: match / no-match logits of the student pulled towards the teacher's at temperature T on the
// same positive and hard-negative pairs (the teacher replays the student's negatives).
import { z } from 'zod';
import { softKl } from '../kl.js';
import { part } from './types.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), temperature: z.number().positive().default(1) });

export const itm: DistillTerm<z.output<typeof schema>> = {
  name: 'itm',
  schema,
  needs: () => ({ terms: ['itm'] }),
  check: () => undefined, // [3B, 2] for any pair
  loss: (student, teacher, { options }) =>
    softKl(part('itm', 'student', 'ITM logits', student.itmLogits), part('itm', 'teacher', 'ITM logits', teacher.itmLogits), options.temperature),
};
