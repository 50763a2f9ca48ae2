// ITM KD: match / no-match logits of the student pulled towards the teacher's at temperature T on the
// same positive and hard-negative pairs (the teacher replays the student's negatives). A gated sample's
// three pairs (its positive and the two negatives built around it) are left out.
import { z } from 'zod';
import { softKl } from '../kl.js';
import { narrowWhole, part } from './types.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), temperature: z.number().positive().default(1) });

export const itm: DistillTerm<z.output<typeof schema>> = {
  name: 'itm',
  schema,
  needs: () => ({ terms: ['itm'] }),
  check: () => undefined, // [3B, 2] for any pair
  narrow: (options, has) => narrowWhole(options, has, 'itmLogits'),
  loss: (student, teacher, { options, rows }) =>
    softKl(part('itm', 'student', 'ITM logits', student.itmLogits), part('itm', 'teacher', 'ITM logits', teacher.itmLogits), options.temperature, rows.keep('fused')),
};
