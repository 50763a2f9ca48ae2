// Hidden-state KD per module (vision, text, fused, decoder): MSE of mapped layers, through learned
// adaptors where the student is narrower than the teacher; pads are not counted.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import { LayerAdaptors } from '../adaptor.js';
import { hiddenKd } from '../hidden-kd.js';
import { checkImageTokens, countedTokens, moduleLayerMaps, ModuleMapsSchema, moduleTerms, narrowModules, outputOf, teacherSide, widthOf } from './modules.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), modules: ModuleMapsSchema });

export const hidden: DistillTerm<z.output<typeof schema>> = {
  name: 'hidden',
  schema,
  needs: (options) => ({ terms: moduleTerms(options.modules), hiddenStates: true }),
  check(student, teacher, options) {
    moduleLayerMaps(options.modules, student, teacher, 'terms.hidden');
    if (options.modules.vision) checkImageTokens(student, teacher, 'terms.hidden.modules.vision');
  },
  narrow: narrowModules,
  adaptors: (student, teacher, options) =>
    Object.fromEntries(
      [...moduleLayerMaps(options.modules, student, teacher, 'terms.hidden')].map(([m, pairs]) => [m, new LayerAdaptors(pairs, widthOf(student, m), widthOf(teacher, m))]),
    ),
  teacherLayers: (student, teacher, options) => ({ hiddenStates: teacherSide(moduleLayerMaps(options.modules, student, teacher, 'terms.hidden')) }),
  loss(student, teacher, ctx) {
    const maps = moduleLayerMaps(ctx.options.modules, ctx.student.config, ctx.teacher.config, 'terms.hidden');
    const losses = [...maps].map(([m, pairs]) => {
      const adaptors = ctx.adaptors.towers[m];
      if (!adaptors) throw new Error(`distill term hidden: no adaptors for module ${m}`);
      const out = outputOf(student, m, 'student');
      const s = out.hiddenStates;
      const t = outputOf(teacher, m, 'teacher').hiddenStates;
      if (!s || !t) throw new Error(`distill term hidden: the ${s ? 'teacher' : 'student'} ${m} outputs lack hidden states`);
      return hiddenKd(s, t, pairs, adaptors, countedTokens(ctx.rows, m, out.lastHiddenState.shape[1]!));
    });
    return tf.div(tf.addN(losses), losses.length) as tf.Scalar;
  },
};
