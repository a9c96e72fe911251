/**
 * Adam as Keras applies it (beta1 0.9, beta2 0.999, epsilon 1e-7): the bias corrections fold into
 * the step size, p -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon).
 */
export class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;

  constructor(
    private readonly params: Float32Array | Float64Array,
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-7,
  ) {
    this.m = new Float64Array(params.length);
    this.v = new Float64Array(params.length);
  }

  /** One update with the gradient of the loss, shaped as the parameters. */
  step(grad: ArrayLike<number>): void {
    if (grad.length !== this.params.length) {
      throw new Error(`adam: expected a gradient of ${this.params.length} values, got ${grad.length}`);
    }
    this.t++;
    const { beta1: b1, beta2: b2, epsilon: eps, m, v, params } = this;
    const lr = (this.learningRate * Math.sqrt(1 - b2 ** this.t)) / (1 - b1 ** this.t);
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
      params[i]! -= (lr * mi) / (Math.sqrt(vi) + eps);
    }
  }
}
