// Learning-rate schedules: linear warm-up, then cosine or step decay (BLIP uses warm-up + cosine).

export interface ScheduleOptions {
  kind: 'cosine' | 'step' | 'constant';
  lr: number;
  /** Steps of linear warm-up from warmupLr to lr. */
  warmupSteps: number;
  warmupLr?: number;
  totalSteps: number;
  /** Cosine: the floor; step: unused. */
  minLr?: number;
  /** Step decay: multiply by `gamma` every `stepSize` steps after warm-up. */
  stepSize?: number;
  gamma?: number;
}

export function learningRate(step: number, s: ScheduleOptions): number {
  if (step < s.warmupSteps) {
    const from = s.warmupLr ?? 0;
    return from + ((s.lr - from) * (step + 1)) / s.warmupSteps;
  }
  const after = step - s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  switch (s.kind) {
    case 'constant':
      return s.lr;
    case 'step':
      return s.lr * (s.gamma ?? 0.1) ** Math.floor(after / (s.stepSize ?? span));
    case 'cosine': {
      const min = s.minLr ?? 0;
      return min + 0.5 * (s.lr - min) * (1 + Math.cos((Math.PI * Math.min(after, span)) / span));
    }
  }
}

/** BLIP's α ramp: full α after the first epoch, linear before it. */
export function alphaAt(step: number, stepsPerEpoch: number, alpha: number): number {
  return alpha * Math.min(1, step / Math.max(1, stepsPerEpoch));
}
