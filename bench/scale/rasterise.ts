/**
 * SVG → PNG in Debian's Chromium (playwright-core, as the console's browser tests drive it): the
 * figures are drawn by svg-plot.ts, and docs readers that do not show SVG still get a picture.
 */
import { writeFileSync } from 'node:fs';
import { launchChromium } from '../../test/helpers/browser.js';

/** Writes each SVG and its PNG (at twice the SVG's pixel size, for high-density screens). */
export async function writeFigures(figures: readonly { svgPath: string; pngPath: string; svg: string }[]): Promise<void> {
  const browser = await launchChromium();
  try {
    for (const figure of figures) {
      writeFileSync(figure.svgPath, figure.svg);
      const size = /width="(\d+)" height="(\d+)"/.exec(figure.svg);
      if (!size) throw new Error(`${figure.svgPath}: the SVG has no width and height`);
      const page = await browser.newPage({ viewport: { width: Number(size[1]), height: Number(size[2]) }, deviceScaleFactor: 2 });
      await page.setContent(`<!doctype html><html><body style="margin:0">${figure.svg}</body></html>`);
      await page.locator('svg').screenshot({ path: figure.pngPath });
      await page.close();
    }
  } finally {
    await browser.close();
  }
}
