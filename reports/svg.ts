/**
 * Inline SVG plots for the HTML report: heatmaps (confusion matrices, prediction densities), bar
 * charts and line charts. Pure string building, no scripts; every plot is an <svg class="plot"
 * data-plot="..."> so tests can find it.
 */

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const FONT = 'font-family="system-ui, sans-serif"';

function fmt(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}

/** White to deep blue; t in [0, 1]. */
export function blueScale(t: number): string {
  const c = Math.max(0, Math.min(1, t));
  const mix = (a: number, b: number): number => Math.round(a + (b - a) * c);
  return `rgb(${mix(247, 8)},${mix(251, 48)},${mix(255, 107)})`;
}

/** Width a title needs at 14 px (generous average glyph width). */
function titleWidth(title: string): number {
  return Math.ceil(title.length * 8.2) + 24;
}

function svgOpen(id: string, width: number, height: number, title: string): string {
  return (
    `<svg class="plot" data-plot="${escapeXml(id)}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}">` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>` +
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600" ${FONT}>${escapeXml(title)}</text>`
  );
}

export interface HeatmapOptions {
  readonly id: string;
  readonly title: string;
  readonly rowLabels: readonly string[];
  readonly columnLabels: readonly string[];
  readonly xTitle: string;
  readonly yTitle: string;
  /** Colour by share of the row (confusion matrices) or by log count over the whole grid (densities). */
  readonly colour: 'row-share' | 'log-count';
  readonly showCounts: boolean;
  /** Draw the diagonal (densities of predicted vs true). */
  readonly diagonal?: boolean;
  readonly cell?: number;
}

/** Rows drawn top to bottom as given; matrix[r][c]. */
export function heatmap(matrix: readonly (readonly number[])[], o: HeatmapOptions): string {
  const rows = matrix.length;
  const cols = matrix[0]?.length ?? 0;
  const cell = o.cell ?? 34;
  const left = 30 + 6.5 * Math.max(4, ...o.rowLabels.map((l) => l.length));
  const top = 36;
  const width = Math.max(left + cols * cell + 20, titleWidth(o.title));
  const height = top + rows * cell + 40 + 6 * Math.max(4, ...o.columnLabels.map((l) => l.length));
  const max = Math.max(1, ...matrix.flat());
  const parts = [svgOpen(o.id, width, height, o.title)];
  matrix.forEach((row, r) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((v, c) => {
      const t = o.colour === 'row-share' ? (total > 0 ? v / total : 0) : Math.log1p(v) / Math.log1p(max);
      const x = left + c * cell;
      const y = top + r * cell;
      parts.push(
        `<rect class="cell" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${blueScale(t)}" stroke="#dddddd" stroke-width="0.5"><title>${escapeXml(`${o.rowLabels[r] ?? r} / ${o.columnLabels[c] ?? c}: ${v}`)}</title></rect>`,
      );
      if (o.showCounts && v > 0) {
        parts.push(
          `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="10" fill="${t > 0.5 ? '#ffffff' : '#222222'}" ${FONT}>${v}</text>`,
        );
      }
    });
  });
  if (o.diagonal) {
    parts.push(
      `<line x1="${left}" y1="${top + rows * cell}" x2="${left + cols * cell}" y2="${top}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    );
  }
  o.rowLabels.forEach((label, r) =>
    parts.push(
      `<text x="${left - 6}" y="${top + r * cell + cell / 2 + 4}" text-anchor="end" font-size="11" ${FONT}>${escapeXml(label)}</text>`,
    ),
  );
  o.columnLabels.forEach((label, c) => {
    const x = left + c * cell + cell / 2;
    const y = top + rows * cell + 8;
    parts.push(
      `<text x="${x}" y="${y}" text-anchor="end" font-size="11" transform="rotate(-45 ${x} ${y})" ${FONT}>${escapeXml(label)}</text>`,
    );
  });
  parts.push(
    `<text x="${left + (cols * cell) / 2}" y="${height - 8}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(o.xTitle)}</text>`,
    `<text x="14" y="${top + (rows * cell) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${top + (rows * cell) / 2})" ${FONT}>${escapeXml(o.yTitle)}</text>`,
    '</svg>',
  );
  return parts.join('');
}

export interface BarOptions {
  readonly id: string;
  readonly title: string;
  readonly labels: readonly string[];
  readonly min: number;
  readonly max: number;
  /** A short note under each bar's label (e.g. "t=0.4"). */
  readonly notes?: readonly string[];
  /** A dashed horizontal reference line (e.g. chance). */
  readonly reference?: { readonly value: number; readonly label: string };
}

export function barChart(values: readonly number[], o: BarOptions): string {
  const longest = Math.max(
    4,
    ...o.labels.map((l, i) => l.length + (o.notes?.[i] ? o.notes[i].length + 3 : 0)),
  );
  const left = Math.max(50, 10 + 4.4 * longest);
  const top = 34;
  const plotH = 200;
  const bar = 34;
  const width = Math.max(left + values.length * bar + 30, titleWidth(o.title));
  const height = top + plotH + 20 + 4.6 * longest;
  const y = (v: number): number =>
    top + plotH - ((Math.max(o.min, Math.min(o.max, v)) - o.min) / (o.max - o.min)) * plotH;
  const parts = [svgOpen(o.id, width, height, o.title)];
  for (let i = 0; i <= 4; i++) {
    const v = o.min + ((o.max - o.min) * i) / 4;
    parts.push(
      `<line x1="${left}" y1="${y(v)}" x2="${width - 20}" y2="${y(v)}" stroke="#eeeeee"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10" ${FONT}>${fmt(v, 2)}</text>`,
    );
  }
  const zero = y(Math.max(o.min, 0));
  values.forEach((v, i) => {
    const x = left + i * bar + 5;
    const top0 = Math.min(y(v), zero);
    const h = Math.max(1, Math.abs(zero - y(v)));
    parts.push(
      `<rect class="bar" x="${x}" y="${top0}" width="${bar - 10}" height="${h}" fill="${v >= 0 ? '#3a7dc9' : '#d9534f'}"><title>${escapeXml(`${o.labels[i] ?? i}: ${fmt(v)}`)}</title></rect>`,
      `<text x="${x + (bar - 10) / 2}" y="${top0 - 3}" text-anchor="middle" font-size="9" ${FONT}>${fmt(v, 2)}</text>`,
    );
    const lx = x + (bar - 10) / 2;
    const ly = top + plotH + 10;
    parts.push(
      `<text x="${lx}" y="${ly}" text-anchor="end" font-size="10" transform="rotate(-45 ${lx} ${ly})" ${FONT}>${escapeXml(o.labels[i] ?? String(i))}${o.notes?.[i] ? ` (${escapeXml(o.notes[i])})` : ''}</text>`,
    );
  });
  parts.push(`<line x1="${left}" y1="${zero}" x2="${width - 20}" y2="${zero}" stroke="#444444"/>`);
  if (o.reference) {
    parts.push(
      `<line x1="${left}" y1="${y(o.reference.value)}" x2="${width - 20}" y2="${y(o.reference.value)}" stroke="#d62728" stroke-dasharray="5 3"/>`,
      `<text x="${width - 22}" y="${y(o.reference.value) - 4}" text-anchor="end" font-size="10" fill="#d62728" ${FONT}>${escapeXml(o.reference.label)}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface LineSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineOptions {
  readonly id: string;
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  /** Place x values at even spacing (categorical, e.g. smoothing windows 0, 1, 2, 5, 50). */
  readonly evenX?: boolean;
  readonly marker?: { readonly x: number; readonly label: string };
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

export function lineChart(series: readonly LineSeries[], o: LineOptions): string {
  const left = 56;
  const top = 34;
  const plotW = 420;
  const plotH = 200;
  const width = left + plotW + 150;
  const height = top + plotH + 50;
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  let yMin = Math.min(0, ...ys);
  let yMax = Math.max(...ys, yMin + 1e-6);
  const pad = (yMax - yMin) * 0.05;
  yMin -= pad;
  yMax += pad;
  const xPos = (x: number): number => {
    if (o.evenX) return left + (xs.length > 1 ? (xs.indexOf(x) / (xs.length - 1)) * plotW : plotW / 2);
    const lo = xs[0] ?? 0;
    const hi = xs[xs.length - 1] ?? 1;
    return left + (hi > lo ? ((x - lo) / (hi - lo)) * plotW : plotW / 2);
  };
  const yPos = (v: number): number => top + plotH - ((v - yMin) / (yMax - yMin)) * plotH;
  const parts = [svgOpen(o.id, width, height, o.title)];
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    parts.push(
      `<line x1="${left}" y1="${yPos(v)}" x2="${left + plotW}" y2="${yPos(v)}" stroke="#eeeeee"/>`,
      `<text x="${left - 6}" y="${yPos(v) + 4}" text-anchor="end" font-size="10" ${FONT}>${fmt(v, 2)}</text>`,
    );
  }
  const every = Math.ceil(xs.length / 12);
  xs.forEach((x, i) => {
    if (i % every !== 0 && i !== xs.length - 1) return;
    parts.push(
      `<text x="${xPos(x)}" y="${top + plotH + 14}" text-anchor="middle" font-size="10" ${FONT}>${fmt(x, Number.isInteger(x) ? 0 : 2)}</text>`,
    );
  });

  if (o.marker) {
    const x = xPos(o.marker.x);
    parts.push(
      `<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#999999" stroke-dasharray="4 3"/>`,
      `<text x="${x - 4}" y="${top + plotH - 6}" text-anchor="end" font-size="10" fill="#666666" ${FONT}>${escapeXml(o.marker.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const finite = s.points.filter((p) => Number.isFinite(p[1]));
    parts.push(
      `<polyline class="series" fill="none" stroke="${colour}" stroke-width="2" points="${finite.map((p) => `${xPos(p[0]).toFixed(1)},${yPos(p[1]).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of finite) {
      parts.push(
        `<circle cx="${xPos(p[0]).toFixed(1)}" cy="${yPos(p[1]).toFixed(1)}" r="3" fill="${colour}"><title>${escapeXml(`${s.name}: ${fmt(p[0], 2)} -> ${fmt(p[1])}`)}</title></circle>`,
      );
    }
    parts.push(
      `<rect x="${left + plotW + 14}" y="${top + i * 18}" width="12" height="12" fill="${colour}"/>`,
      `<text x="${left + plotW + 30}" y="${top + i * 18 + 10}" font-size="11" ${FONT}>${escapeXml(s.name)}</text>`,
    );
  });
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(o.xTitle)}</text>`,
    `<text x="14" y="${top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${top + plotH / 2})" ${FONT}>${escapeXml(o.yTitle)}</text>`,
    '</svg>',
  );
  return parts.join('');
}
