// Hidden-state KD per module (vision, text, fused, decoder): MSE of mapped layers, through learned
// adaptors where the student is narrower than the teacher; pads are not counted.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import { LayerAdaptors } from '../adaptor.js';
import { hiddenKd } from '../hidden-kd.js';
import { layerMap } from '../layer-map.js';
import { checkImageTokens, layersOf, listed, ModuleMapsSchema, moduleTerms, outputOf, tokenMask, widthOf } from './modules.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), modules: ModuleMapsSchema });

export const hidden: DistillTerm<z.output<typeof schema>> = {
  name: 'hidden',
  schema,
  needs: (options) => ({ terms: moduleTerms(options.modules), hiddenStates: true }),
  check(student, teacher, options) {
    for (const m of listed(options.modules)) {
      try {
        layerMap(options.modules[m]!, layersOf(student, m), layersOf(teacher, m));
      } catch (err) {
        throw new Error(`terms.hidden.modules.${m}: ${(err as Error).message}`);
      }
    }
    if (options.modules.vision) checkImageTokens(student, teacher, 'terms.hidden.modules.vision');
  },
  adaptors: (student, teacher, options) =>
    Object.fromEntries(
      listed(options.modules).map((m) => [m, new LayerAdaptors(layerMap(options.modules[m]!, layersOf(student, m), layersOf(teacher, m)), widthOf(student, m), widthOf(teacher, m))]),
    ),
  loss(student, teacher, ctx) {
    const modules = listed(ctx.options.modules);
    const losses = modules.map((m) => {
      const pairs = layerMap(ctx.options.modules[m]!, layersOf(ctx.student.config, m), layersOf(ctx.teacher.config, m));
      const adaptors = ctx.adaptors.towers[m];
      if (!adaptors) throw new Error(`distill term hidden: no adaptors for module ${m}`);
      const s = outputOf(student, m, 'student').hiddenStates;
      const t = outputOf(teacher, m, 'teacher').hiddenStates;
      if (!s || !t) throw new Error(`distill term hidden: the ${s ? 'teacher' : 'student'} ${m} outputs lack hidden states`);
      return hiddenKd(s, t, pairs, adaptors, tokenMask(m, ctx.batch, student));
    });
    return tf.div(tf.addN(losses), losses.length) as tf.Scalar;
  },
};
