// Export and DICOM SEG in a real browser: the process form offers the configured destinations, a
// job asks for one that cannot be reached (a closed port, one attempt), and its result card ends
// showing the export as failed with the server's error, live from the WebSocket's export event.
// The threshold result also offers its DICOM SEG for download.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { imageShown, startAll, stopAll, typeIds, withPage } from './harness.mjs';

const dir = mkdtempSync(join(process.env.IMGPIPE_TEST_TMPDIR ?? tmpdir(), 'imgpipe-export-'));
const destinationsFile = join(dir, 'destinations.json');
writeFileSync(
  destinationsFile,
  JSON.stringify({
    destinations: [
      // Port 9 (discard) is closed on loopback: the association is refused at once.
      { name: 'pacs', type: 'dicom', host: '127.0.0.1', port: 9, called_aet: 'NOWHERE', max_attempts: 1, timeout_s: 5 },
    ],
  }),
);
// The server inherits the environment (harness.mjs spawns it without its own).
process.env.IMGPIPE_EXPORT_DESTINATIONS_FILE = destinationsFile;

let server;
let browser;
before(async () => ({ server, browser } = await startAll()));
after(async () => {
  await stopAll({ server, browser });
  rmSync(dir, { recursive: true, force: true });
});

test('export to a destination that refuses: the card shows it failed, with the error', async () => {
  const demo = await server.demoImage('CT');
  await withPage(browser, server, 'export', {}, async (page) => {
    await page.goto(server.url + '/');
    await typeIds(page, demo);
    await page.getByRole('button', { name: 'Load preview' }).click();
    await page.getByRole('button', { name: 'Provision client' }).click();
    const clientId = await page.getByTestId('client-id').textContent();
    await page.waitForSelector('[data-testid=connection][data-state=open]');

    await page.getByLabel('Algorithm').selectOption('threshold');
    const choice = page.getByTestId('export-destinations');
    const box = choice.getByLabel('pacs (dicom)');
    assert.equal(await box.isChecked(), false);
    await box.check();
    await page.getByRole('button', { name: 'Start processing' }).click();

    await imageShown(page, '[data-testid=processed-image]');
    const job = page.locator('[data-testid=job]').first();
    const jobId = await job.getAttribute('data-job-id');
    const exp = job.locator('[data-testid=export][data-destination=pacs]');
    await page.waitForSelector(
      `[data-job-id="${jobId}"] [data-testid=export][data-destination=pacs][data-status=failed]`,
      { timeout: 30000 },
    );
    const text = await exp.textContent();
    assert.match(text, /^pacs: failed - .+/);
    const fromServer = await server.json(`/api/jobs/${jobId}`, { headers: { 'X-Client-Id': clientId } });
    assert.equal(fromServer.exports[0].status, 'failed');
    assert.equal(text, `pacs: failed - ${fromServer.exports[0].error}`);

    // The segmentation's DICOM SEG is a real output of the job.
    const seg = page.getByTestId('download-seg');
    assert.equal(await seg.count(), 1);
    const r = await fetch(server.url + (await seg.getAttribute('href')));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/dicom');

    // The export event moved the page's last_seq to the server's: a reload replays nothing.
    const { last_seq } = await server.json(`/api/events?after=0`, { headers: { 'X-Client-Id': clientId } });
    const saved = await page.evaluate((id) => localStorage.getItem(`imgpipe.last_seq.${id}`), clientId);
    assert.equal(Number(saved), last_seq);
    await page.reload();
    await page.waitForSelector(`[data-job-id="${jobId}"] [data-testid=export][data-status=failed]`);
    assert.deepEqual(page.problems, []);
  });
});
