/**
 * The HTML report opened in headless Chromium (Debian's chromium): the DOM after rendering holds
 * every plot with its cells and bars, and a screenshot shows them (pixels of the heatmap, bar and
 * line colours at the places the plots occupy).
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { screenshot } from '../reports/chromium.ts';
import { renderComparisonHtml, renderReportHtml } from '../reports/html.ts';
import { blueScale, escapeXml } from '../reports/svg.ts';
import { dumpDom } from './helpers/chromium.ts';
import { tempDir } from './helpers/env.ts';
import { sampleReport } from './helpers/reportFixture.ts';

const PLOTS = [
  'smoothing',
  'expr-confusion',
  'expr-f1',
  'expr-history',
  'va-valence',
  'va-arousal',
  'va-history',
  'au-f1',
  'au-history',
  'ce-confusion',
  'ce-f1',
  'emi-pearson',
  'emi-history',
];

test('the HTML report renders in headless Chromium: every plot is in the rendered DOM and visible in a screenshot', async (t) => {
  const dir = tempDir('report');
  const htmlPath = join(dir, 'report.html');
  const html = renderReportHtml(sampleReport());
  writeFileSync(htmlPath, html);
  t.false(
    /<script|https?:\/\/(?!www\.w3\.org)/.test(html),
    'self-contained: no scripts, no external resources',
  );
  t.true(html.includes(escapeXml('dataset <&> "quoted"')));

  const dom = await dumpDom(htmlPath);
  for (const id of PLOTS) t.true(dom.includes(`data-plot="${id}"`), `plot ${id} in the rendered DOM`);
  t.is(dom.match(/class="cell"/g)?.length, 8 * 8 + 20 * 20 * 2 + 7 * 7);
  t.is(dom.match(/class="bar"/g)?.length, 8 + 12 + 7 + 6);
  t.true(dom.includes('data-table="comparison"') && dom.includes('enet_b0_8_va_mtl@1'));

  const pngPath = join(dir, 'report.png');
  await screenshot(htmlPath, pngPath, { width: 1280, height: 3600 });
  const { data, info } = await sharp(pngPath).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const count = (r: number, g: number, b: number, tolerance = 6): number => {
    let n = 0;
    for (let i = 0; i < data.length; i += 3) {
      if (
        Math.abs(data[i]! - r) <= tolerance &&
        Math.abs(data[i + 1]! - g) <= tolerance &&
        Math.abs(data[i + 2]! - b) <= tolerance
      )
        n++;
    }
    return n;
  };
  t.is(info.width, 1280);
  const deepBlue = blueScale(1).match(/\d+/g)!.map(Number) as [number, number, number];
  t.true(count(...deepBlue, 30) > 2_000, `heatmap cells drawn: ${count(...deepBlue, 30)} dark-blue pixels`);
  t.true(count(0x3a, 0x7d, 0xc9) > 5_000, `bars drawn: ${count(0x3a, 0x7d, 0xc9)} bar-blue pixels`);
  t.true(count(0xd9, 0x53, 0x4f) > 50, 'a negative Pearson bar drawn in red');
  t.true(count(0x1f, 0x77, 0xb4, 20) > 300, 'line series drawn');
  const white = count(255, 255, 255, 0);
  t.true(white < info.width * info.height * 0.97, `the page is not blank (${white} white pixels)`);
});

test('the backbone comparison page renders in Chromium with one bar chart per task and the best score marked', async (t) => {
  const dir = tempDir('comparison');
  const htmlPath = join(dir, 'comparison.html');
  writeFileSync(
    htmlPath,
    renderComparisonHtml('dataset-1', [
      { backbone: 'a@1', scores: { EXPR: 0.4, VA: -0.1 } },
      { backbone: 'b@1', scores: { EXPR: 0.45, AU: 0.5 } },
    ]),
  );
  const dom = await dumpDom(htmlPath);
  for (const id of ['compare-EXPR', 'compare-VA', 'compare-AU'])
    t.true(dom.includes(`data-plot="${id}"`), id);
  t.is(dom.match(/class="bar"/g)?.length, 6);
  t.true(dom.includes('<span class="best">0.450</span>'));
  t.true(dom.includes('<td>—</td>'));
});
