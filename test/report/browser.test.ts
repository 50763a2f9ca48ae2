// The report in a real browser (Chromium through playwright-core): it loads without a console error or
// a failed script, makes no request at all (every request is caught and fails the test), every chart
// has drawn its series in their own colours, and a screenshot is not blank.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { findChromium } from '../../src/report/chromium.js';
import { writeReport } from '../../src/report/report.js';
import { writeDemoRun, writeDistillRun } from './fixture.js';

const executable = findChromium();
const skip = executable ? false : 'no Chromium found (install Debian\'s chromium, or set CHROMIUM_PATH): the report was not checked in a browser';

interface Drawn {
  id: string;
  series: { label: string; elements: number; colorPixels: number }[];
}

/** Per chart canvas: each dataset's placed elements and how many pixels of the plot area have its colour. */
async function drawnCharts(page: Page): Promise<Drawn[]> {
  return page.evaluate(() => {
    const Chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): any } }).Chart;
    return [...document.querySelectorAll<HTMLCanvasElement>('canvas[id^="chart-"]')].map((canvas) => {
      const chart = Chart.getChart(canvas);
      // Only the plot area counts: the legend has a swatch of each colour even when nothing is plotted.
      const area = chart?.chartArea ?? { left: 0, top: 0, right: 0, bottom: 0 };
      const scale = canvas.width / canvas.clientWidth;
      const [x0, y0] = [Math.floor(area.left * scale), Math.floor(area.top * scale)];
      const pixels = canvas.getContext('2d')!.getImageData(x0, y0, Math.max(1, Math.ceil(area.right * scale) - x0), Math.max(1, Math.ceil(area.bottom * scale) - y0)).data;
      const series = (chart?.data.datasets ?? []).map((dataset: any, i: number) => {
        const hex = dataset.borderColor as string;
        const [r, g, b] = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
        let colorPixels = 0;
        for (let p = 0; p < pixels.length; p += 4) {
          if (pixels[p + 3]! > 200 && Math.abs(pixels[p]! - r!) <= 6 && Math.abs(pixels[p + 1]! - g!) <= 6 && Math.abs(pixels[p + 2]! - b!) <= 6) colorPixels++;
        }
        const elements = chart.getDatasetMeta(i).data.filter((e: any) => Number.isFinite(e.x) && Number.isFinite(e.y)).length;
        return { label: dataset.label as string, elements, colorPixels };
      });
      return { id: canvas.id, series };
    });
  });
}

describe('report in a browser', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'dlip-report-browser-'));
  // One page serves both reports: starting Chromium and opening a page take seconds each.
  let browser: Browser;
  let page: Page;
  let url = '';
  const requests: string[] = [];
  const errors: string[] = [];

  before(async () => {
    browser = await chromium.launch({ executablePath: executable!, args: ['--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // Every request but the report file itself is recorded, whether or not routing sees it, and aborted.
    page.on('request', (r) => {
      if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.route('**/*', (route) => {
      if (route.request().url() === url) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
  });
  after(async () => {
    await browser?.close();
  });

  for (const kind of ['demo', 'distill'] as const) {
    it(`loads the ${kind} report offline, draws every chart and shows a non-blank page`, async () => {
      const dir = join(work, kind);
      if (kind === 'demo') await writeDemoRun(dir);
      else writeDistillRun(dir);
      url = pathToFileURL(await writeReport(dir)).href;
      requests.length = 0;
      errors.length = 0;
      await page.goto(url, { waitUntil: 'load' });
      const charts = await drawnCharts(page);
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [], 'the report made requests');
      assert.equal(charts.length, kind === 'demo' ? 10 : 2);
      for (const chart of charts) {
        assert.ok(chart.series.length > 0, `${chart.id} has no series`);
        for (const s of chart.series) {
          assert.ok(s.elements > 0, `${chart.id} "${s.label}": nothing placed`);
          assert.ok(s.colorPixels > 0, `${chart.id} "${s.label}": no pixel of its colour on the canvas`);
        }
      }
      // Every image (data: URIs) decoded.
      const broken = await page.evaluate(() => [...document.images].filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.alt));
      assert.deepEqual(broken, []);

      const shot = await page.screenshot({ fullPage: true });
      const stats = await sharp(shot).stats();
      assert.ok(stats.channels.slice(0, 3).every((c) => c.stdev > 10), `the screenshot looks blank (stdev ${stats.channels.map((c) => c.stdev.toFixed(1)).join(', ')})`);
      assert.ok(stats.channels.slice(0, 3).every((c) => c.min < 80), 'the screenshot has no dark text');
    });
  }
});
