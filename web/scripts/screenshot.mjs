// Regenerates docs/images/ui.png, the README's picture of the page: the demo CT with a soft-tissue
// window, the seed's processing_1 result beside it, and a few jobs in the list.
//   node web/scripts/screenshot.mjs   (needs build/ and web/dist)
import { join } from 'node:path';
import { imageShown, launchBrowser, openPage, Server, typeIds, webDir } from '../e2e/harness.mjs';

const server = await Server.start();
const browser = await launchBrowser();
try {
  const demo = await server.demoImage('CT');
  const page = await openPage(browser);
  await page.setViewportSize({ width: 1366, height: 860 });
  await page.goto(server.url + '/');
  await typeIds(page, demo);
  await page.getByRole('button', { name: 'Load preview' }).click();
  await page.getByRole('button', { name: 'Provision client' }).click();
  await page.waitForSelector('[data-testid=connection][data-state=open]');
  for (const algorithm of ['canny', 'threshold', 'processing_1']) {
    await page.getByLabel('Algorithm').selectOption(algorithm);
    await page.getByRole('button', { name: 'Start processing' }).click();
    await page.waitForSelector('[data-testid=job][data-status=succeeded] >> nth=0');
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=job][data-status=succeeded]').length >= n,
      ['canny', 'threshold', 'processing_1'].indexOf(algorithm) + 1,
    );
  }
  await page.getByTestId('wl-preset').selectOption('soft_tissue');
  await page.waitForFunction(() =>
    document.querySelector('[data-testid=original-image]')?.getAttribute('src')?.includes('ww=400'),
  );
  await imageShown(page, '[data-testid=processed-image]');
  await page.evaluate(() => window.scrollTo(0, 0));
  const out = join(webDir, '..', 'docs', 'images', 'ui.png');
  await page.screenshot({ path: out });
  console.log('wrote', out);
} finally {
  await browser.close();
  await server.dispose();
}
