// Attention-map KD per module: vision self-attention, text self-attention, the fused encoder's
// cross-attention to the image, and the decoder's (causal) self-attention; pad queries not counted.
import { z } from 'zod';
import { tf } from '../../engine/backend.js';
import type { EncoderOutput } from '../../models/outputs.js';
import { attentionKd } from '../attention-kd.js';
import { checkImageTokens, countedTokens, moduleLayerMaps, ModuleMapsSchema, moduleTerms, narrowModules, outputOf, teacherSide } from './modules.js';
import type { ModuleName } from './modules.js';
import type { DistillTerm } from './types.js';

const schema = z.strictObject({ weight: z.number().nonnegative(), modules: ModuleMapsSchema });

function mapsOf(out: EncoderOutput, module: ModuleName, who: string): tf.Tensor[] {
  const maps = module === 'fused' ? out.crossAttentions : out.attentions;
  if (!maps) throw new Error(`distill term attention: the ${who} ${module} outputs lack attention maps`);
  return maps;
}

export const attention: DistillTerm<z.output<typeof schema>> = {
  name: 'attention',
  schema,
  needs: (options) => ({ terms: moduleTerms(options.modules), attentions: true }),
  check(student, teacher, options) {
    moduleLayerMaps(options.modules, student, teacher, 'terms.attention');
    // Vision maps and the fused cross-attention maps both span the image tokens.
    if (options.modules.vision) checkImageTokens(student, teacher, 'terms.attention.modules.vision');
    if (options.modules.fused) checkImageTokens(student, teacher, 'terms.attention.modules.fused');
  },
  teacherLayers: (student, teacher, options) => ({ attentions: teacherSide(moduleLayerMaps(options.modules, student, teacher, 'terms.attention')) }),
  narrow: narrowModules,
  loss(student, teacher, ctx) {
    const maps = moduleLayerMaps(ctx.options.modules, ctx.student.config, ctx.teacher.config, 'terms.attention');
    const losses = [...maps].map(([m, pairs]) => {
      const s = outputOf(student, m, 'student');
      const queries = countedTokens(ctx.rows, m, s.lastHiddenState.shape[1]!);
      return attentionKd(mapsOf(s, m, 'student'), mapsOf(outputOf(teacher, m, 'teacher'), m, 'teacher'), pairs, queries);
    });
    return tf.div(tf.addN(losses), losses.length) as tf.Scalar;
  },
};
