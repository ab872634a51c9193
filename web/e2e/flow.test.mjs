// The seed's flow in a real browser against a live `imgpipe serve --demo`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { imageShown, startAll, stopAll, typeIds, withPage } from './harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startAll()));
after(() => stopAll({ server, browser }));

async function provision(page) {
  await page.getByRole('button', { name: 'Provision client' }).click();
  const id = await page.getByTestId('client-id').textContent();
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  await page.waitForSelector('[data-testid=connection][data-state=open]');
  return id;
}

test('the seed flow: type the ids, preview, provision, process, see the result', async () => {
  const demo = await server.demoImage('CT');
  await withPage(browser, server, 'seed-flow', {}, async (page) => {
    await page.goto(server.url + '/');
    await typeIds(page, demo);
    assert.equal(await page.getByLabel('Scope').inputValue(), 'image');
    await page.getByRole('button', { name: 'Load preview' }).click();
    const original = await imageShown(page, '[data-testid=original-image]');
    assert.ok(original.width >= 256, 'the CT slice is rendered');
    assert.match(original.src, /\/pacs\/preview\?study_id=.*&image_id=.*&scope=image/);

    const clientId = await provision(page);
    assert.equal(await page.getByLabel('Algorithm').inputValue(), 'processing_1');
    await page.getByRole('button', { name: 'Start processing' }).click();

    const processed = await imageShown(page, '[data-testid=processed-image]');
    assert.deepEqual([processed.width, processed.height], [original.width, original.height]);
    const job = page.locator('[data-testid=job]').first();
    assert.equal(await job.getAttribute('data-status'), 'succeeded');
    const jobId = await job.getAttribute('data-job-id');
    assert.ok(processed.src.includes(`/api/results/${jobId}/image.png`));

    // The downloads are real outputs of this client's job.
    for (const [testId, type] of [
      ['download-png', 'image/png'],
      ['download-dicom', 'application/dicom'],
    ]) {
      const href = await page.getByTestId(testId).getAttribute('href');
      const r = await fetch(server.url + href);
      assert.equal(r.status, 200, href);
      assert.equal(r.headers.get('content-type'), type);
    }
    // Compare with the slider: both pictures stay on screen.
    await page.getByTestId('mode-slider').click();
    // count() does not wait: wait for the slider's second picture first (a slow server, e.g.
    // under ASan, renders it a moment after the click).
    await page.locator('.compare-slider img').nth(1).waitFor();
    assert.equal(await page.locator('.compare-slider img').count(), 2);

    // The client id survives a reload; the job is listed again from the server.
    await page.reload();
    assert.equal(await page.getByTestId('client-id').textContent(), clientId);
    await page.waitForSelector(`[data-job-id="${jobId}"][data-status=succeeded]`);
    assert.deepEqual(page.problems, []);
  });
});

test('browse the study list and pick an image instead of typing UIDs', async () => {
  const mr = await server.demoImage('MR');
  await withPage(browser, server, 'browse', {}, async (page) => {
    await page.goto(server.url + '/');
    await page.getByRole('button', { name: 'Browse studies' }).click();
    await page.getByLabel('Patient name or ID').fill('smith');
    await page.getByLabel('Modality').selectOption('MR');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('1 studies').waitFor();
    await page.getByRole('button', { name: /MRI BRAIN/ }).click();
    await page.getByTestId('pick-image').first().waitFor();
    const count = await page.getByTestId('pick-image').count();
    assert.equal(count, mr.study.series[0].image_count);
    await page.getByTestId('pick-image').nth(2).click();
    await imageShown(page, '[data-testid=original-image]');
    assert.equal(await page.getByLabel('Study ID (study_id)').inputValue(), mr.study_id);
    assert.equal(await page.getByLabel('Series ID (series_id)').inputValue(), mr.series_id);
    const picked = await page.getByLabel('Image ID (image_id)').inputValue();
    assert.match(picked, /^[0-9.]+$/);
    // Step through the series and set a window: new previews load, the page stays usable.
    await page.getByRole('button', { name: 'Next image' }).click();
    assert.notEqual(await page.getByLabel('Image ID (image_id)').inputValue(), picked);
    await page.getByTestId('wl-preset').selectOption('brain');
    await page.waitForFunction(() =>
      document.querySelector('[data-testid=original-image]')?.getAttribute('src')?.includes('wc=40&ww=80'),
    );
    assert.deepEqual(page.problems, []);
  });
});

test('frame navigation through a multi-frame image', async () => {
  // A 3-frame CT written by pydicom, ingested over the PACS API.
  const file = execFileSync('/usr/bin/python3', [
    join(dirname(fileURLToPath(import.meta.url)), 'make_multiframe.py'),
  ]);
  const stored = await fetch(server.url + '/pacs/images', {
    method: 'POST',
    headers: { 'Content-Type': 'application/dicom' },
    body: file,
  });
  assert.ok(stored.ok, `ingest: ${stored.status}`);
  await withPage(browser, server, 'frames', {}, async (page) => {
    await page.goto(server.url + '/');
    await page.getByRole('button', { name: 'Browse studies' }).click();
    await page.getByLabel('Patient name or ID').fill('FRAMES');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: /MULTIFRAME TEST/ }).click();
    await page.getByTestId('pick-image').first().click();
    const first = await imageShown(page, '[data-testid=original-image]');
    assert.ok(!first.src.includes('frame='), 'frame 1 is the default');
    await page.getByText('Frame 1/3').waitFor();
    // One fixed window for both frames (without one, each frame is stretched over its own range).
    await page.getByTestId('wl-preset').selectOption('bone');
    await page.getByTestId('frame').fill('3');
    await page.getByText('Frame 3/3').waitFor();
    await page.waitForFunction(() =>
      document.querySelector('[data-testid=original-image]')?.getAttribute('src')?.includes('frame=3'),
    );
    await page.waitForFunction(() =>
      document.querySelector('[data-testid=original-image]')?.getAttribute('src')?.includes('wc=400&ww=1800&frame=3'),
    );
    const third = await imageShown(page, '[data-testid=original-image]');
    assert.deepEqual([third.width, third.height], [64, 64]);
    // The two frames differ on screen: the rendered pixels of the square are not the same.
    const centre = () =>
      page.$eval('[data-testid=original-image]', (img) => {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        return g.getImageData(32, 32, 1, 1).data[0];
      });
    const at3 = await centre();
    await page.getByTestId('frame').fill('1');
    await page.waitForFunction(() =>
      !document.querySelector('[data-testid=original-image]')?.getAttribute('src')?.includes('frame='),
    );
    await imageShown(page, '[data-testid=original-image]');
    assert.notEqual(await centre(), at3);
    assert.deepEqual(page.problems, []);
  });
});

test('a failed job shows its error', async () => {
  await withPage(browser, server, 'failed-job', {}, async (page) => {
    await page.goto(server.url + '/');
    await page.getByRole('button', { name: 'Browse studies' }).click();
    await page.getByLabel('Modality').selectOption('DX');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: /XR CHEST/ }).click();
    await page.getByTestId('pick-image').first().click();
    await provision(page);
    // A Hounsfield preset on a radiograph: the worker refuses the image.
    await page.getByLabel('Algorithm').selectOption('threshold');
    await page.getByLabel('method', { exact: true }).selectOption('hu_range');
    await page.getByLabel('preset', { exact: true }).selectOption('bone');
    await page.getByRole('button', { name: 'Start processing' }).click();
    const job = page.locator('[data-testid=job][data-status=failed]');
    await job.waitFor();
    const error = await job.getByTestId('job-error').textContent();
    assert.match(error, /unprocessable/);
    assert.match(error, /CT|Hounsfield|HU/);
    assert.equal(await page.locator('[data-testid=processed-image]').count(), 0);
    await page.getByRole('alert').filter({ hasText: 'threshold failed' }).waitFor();
    assert.deepEqual(page.problems, []);
  });
});

test('the form checks parameters against the schema before sending', async () => {
  const demo = await server.demoImage('CT');
  await withPage(browser, server, 'schema-form', {}, async (page) => {
    await page.goto(server.url + '/');
    await typeIds(page, demo);
    await provision(page);
    await page.getByLabel('Algorithm').selectOption('denoise');
    await page.getByLabel('sigma', { exact: true }).fill('99');
    await page.getByRole('button', { name: 'Start processing' }).click();
    await page.getByText('At most 20.').waitFor();
    assert.equal(await page.getByLabel('sigma', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('[data-testid=job]').count(), 0, 'nothing was sent');
    assert.deepEqual(page.problems, []);
  });
});

test('Italian from the browser language, with the seed words, and a switch back', async () => {
  await withPage(browser, server, 'italian', { locale: 'it-IT' }, async (page) => {
    await page.goto(server.url + '/');
    for (const words of ['Carica Anteprima', 'Provisiona client', 'Avvia processing']) {
      await page.getByRole('button', { name: words }).waitFor();
    }
    assert.equal(await page.getAttribute('html', 'lang'), 'it');
    await page.getByTestId('lang').selectOption('en');
    await page.getByRole('button', { name: 'Load preview' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Load preview' }).waitFor(); // the choice is kept
  });
});

test('every control has an accessible name and works from the keyboard', async () => {
  await withPage(browser, server, 'a11y', {}, async (page) => {
    await page.setViewportSize({ width: 1280, height: 720 }); // a laptop screen
    await page.goto(server.url + '/');
    await page.getByRole('button', { name: 'Browse studies' }).click();
    await page.getByRole('button', { name: /CT CHEST/ }).waitFor();
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button, textarea')]
        .filter((el) => {
          const named =
            el.getAttribute('aria-label') || el.labels?.length || (el.textContent ?? '').trim();
          return !named;
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unnamed, []);
    // No horizontal scrolling on a laptop screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the window`);
    // Keyboard: focus the provision button by tabbing and press Enter.
    let found = false;
    for (let i = 0; i < 80 && !found; i++) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(() => document.activeElement?.textContent === 'Provision client');
    }
    assert.ok(found, 'Provision client is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.getByTestId('client-id').waitFor();
    assert.deepEqual(page.problems, []);
  });
});
