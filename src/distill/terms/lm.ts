// LM KD: per caption token, the student's vocabulary distribution pulled towards the teacher's at
// temperature T, each through its own LM head (or the teacher's cached top-k logits), scored where the
// student's labels predict a token (captions, or VQA answers); a gated sample's tokens are not scored.
// Caption tokens are averaged; VQA answers are weighted as the answer loss weighs them (rows.ts).
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import { IGNORE_INDEX } from '../../objectives/lm.js';
import { projectedLmKd } from '../lm-kd.js';
import { narrowWhole, part } from './types.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), temperature: z.number().positive().default(1) });

export const lm: DistillTerm<z.output<typeof schema>> = {
  name: 'lm',
  schema,
  needs: () => ({ terms: ['lm'] }),
  check(student, teacher) {
    const [s, t] = [student.text_config.vocab_size, teacher.text_config.vocab_size];
    if (s !== t) throw new Error(`terms.lm: the student's vocabulary (${s}) and the teacher's (${t}) differ; token distributions cannot be compared`);
  },
  narrow: (options, has) => narrowWhole(options, has, 'lm'),
  loss(student, teacher, { options, student: sm, teacher: tm, rows }) {
    const s = part('lm', 'student', 'decoder states', student.lm);
    const keep = rows.keep('decoder');
    // Gated rows predict nothing here, so the mean runs over the kept rows' tokens.
    const labels = keep ? tf.where(tf.greater(keep.reshape([-1, 1]), 0), s.labels, tf.fill(s.labels.shape, IGNORE_INDEX, 'int32')) : s.labels;
    // A cached teacher brings its top-k logits; a live one its decoder states, projected here.
    const t = teacher.lmTopK ?? { states: part('lm', 'teacher', 'decoder states', teacher.lm).states, ...tm.textDecoder.cls.projection };
    return projectedLmKd({ states: s.states, ...sm.textDecoder.cls.projection }, t, labels, options.temperature, undefined, rows.sequenceWeights?.('decoder'));
  },
};
