/**
 * Minimum-cost assignment (the Hungarian method, shortest augmenting paths with potentials, as
 * scipy.optimize.linear_sum_assignment): rows to distinct columns, every row of a matrix with no
 * more rows than columns.
 */

export class AssignmentError extends Error {
  constructor(detail: string) {
    super(`assignment: ${detail}`);
    this.name = 'AssignmentError';
  }
}

/**
 * For a cost matrix `cost` [rows x cols] (row-major, rows <= cols, finite), the column given to
 * each row so that the total cost is least. Transpose first when there are more rows than columns.
 */
export function minCostAssignment(cost: ArrayLike<number>, rows: number, cols: number): Int32Array {
  if (cost.length !== rows * cols)
    throw new AssignmentError(`expected ${rows} x ${cols} costs, got ${cost.length}`);
  if (rows > cols)
    throw new AssignmentError(`expected at most as many rows as columns, got ${rows} x ${cols}`);
  for (let i = 0; i < cost.length; i++)
    if (!Number.isFinite(cost[i]!))
      throw new AssignmentError(`cost ${i} is ${cost[i]}, expected a finite number`);
  // 1-based potentials u (rows), v (columns); p[j] = row matched to column j (0: none).
  const u = new Float64Array(rows + 1);
  const v = new Float64Array(cols + 1);
  const p = new Int32Array(cols + 1);
  const way = new Int32Array(cols + 1);
  for (let i = 1; i <= rows; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(cols + 1).fill(Infinity);
    const used = new Uint8Array(cols + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const reduced = cost[(i0 - 1) * cols + (j - 1)]! - u[i0]! - v[j]!;
        if (reduced < minv[j]!) {
          minv[j] = reduced;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const assigned = new Int32Array(rows);
  for (let j = 1; j <= cols; j++) if (p[j]! > 0) assigned[p[j]! - 1] = j - 1;
  return assigned;
}
