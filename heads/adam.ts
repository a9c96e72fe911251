/**
 * Adam as Keras applies it (beta1 0.9, beta2 0.999, epsilon 1e-7): the bias corrections fold into
 * the step size, p -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon).
 */
/** Keras defaults, shared with the in-graph update of heads/graphs.ts. */
export const ADAM = Object.freeze({ beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });

/** Bias-corrected step size of update t (1-based). */
export function adamStepSize(learningRate: number, t: number): number {
  return (learningRate * Math.sqrt(1 - ADAM.beta2 ** t)) / (1 - ADAM.beta1 ** t);
}

export class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;

  constructor(
    private readonly params: Float32Array | Float64Array,
    private readonly learningRate: number,
    private readonly beta1 = ADAM.beta1,
    private readonly beta2 = ADAM.beta2,
    private readonly epsilon = ADAM.epsilon,
  ) {
    this.m = new Float64Array(params.length);
    this.v = new Float64Array(params.length);
  }

  /** Sets the moments (to continue from a saved state, or to compare with another implementation). */
  restore(m: ArrayLike<number>, v: ArrayLike<number>): void {
    this.m.set(m);
    this.v.set(v);
  }

  /** One update with the gradient of the loss, shaped as the parameters. */
  step(grad: ArrayLike<number>): void {
    this.t++;
    this.stepWithSize(grad, adamStepSize(this.learningRate, this.t));
  }

  /** One update with an explicit bias-corrected step size (see adamStepSize). */
  stepWithSize(grad: ArrayLike<number>, stepSize: number): void {
    if (grad.length !== this.params.length) {
      throw new Error(`adam: expected a gradient of ${this.params.length} values, got ${grad.length}`);
    }
    const { beta1: b1, beta2: b2, epsilon: eps, m, v, params } = this;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
      params[i]! -= (stepSize * mi) / (Math.sqrt(vi) + eps);
    }
  }
}
