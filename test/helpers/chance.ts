/**
 * Chance levels computed from the labels a test scores, not taken from the report under test:
 * the scores are graded against these.
 */

/**
 * Chance of a macro F1 over `classes`: the better of the best constant prediction (F1 2p/(1+p) on
 * its class, 0 on the others) and a prediction drawn at random with the labels' own frequencies
 * (expected F1 p on each class), both computed from the labels scored.
 */
export function macroF1Chance(labels: readonly number[], classes: number): number {
  const shares = Array.from(
    { length: classes },
    (_, c) => labels.filter((y) => y === c).length / labels.length,
  );
  const constant = Math.max(...shares.map((p) => (2 * p) / (1 + p))) / classes;
  const stratified = shares.reduce((a, p) => a + p, 0) / classes;
  return Math.max(constant, stratified);
}

/** Chance of the AU mean F1: predicting every AU present (F1 2p/(1+p) per AU), the best naive rule. */
export function auChance(au: readonly number[], aus: number): number {
  let sum = 0;
  for (let k = 0; k < aus; k++) {
    const column = au.filter((_, i) => i % aus === k);
    const annotated = column.filter((y) => y >= 0);
    const p = annotated.filter((y) => y === 1).length / annotated.length;
    sum += (2 * p) / (1 + p);
  }
  return sum / aus;
}
