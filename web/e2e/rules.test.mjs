// Automatic processing in a real browser: the rules are listed, the page subscribes its client,
// a matching series arrives over the PACS API, and the rule's result appears in the results list.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startAll, stopAll, withPage } from './harness.mjs';

const rulesDir = mkdtempSync(join(process.env.IMGPIPE_TEST_TMPDIR ?? tmpdir(), 'imgpipe-rules-'));
const rulesFile = join(rulesDir, 'rules.json');
writeFileSync(
  rulesFile,
  JSON.stringify({
    rules: [
      {
        name: 'chest-ct-lung',
        when: { Modality: 'CT', BodyPartExamined: 'CHEST' },
        algorithm: 'threshold',
        params: { method: 'hu_range', preset: 'lung' },
        scope: 'series',
        quiet_seconds: 1,
      },
      { name: 'brain-mr', when: { Modality: 'MR' }, algorithm: 'denoise', quiet_seconds: 1 },
    ],
  }),
);
// The server inherits the environment (harness.mjs spawns it without its own).
process.env.IMGPIPE_RULES_FILE = rulesFile;

let server;
let browser;
before(async () => ({ server, browser } = await startAll()));
after(async () => {
  await stopAll({ server, browser });
  rmSync(rulesDir, { recursive: true, force: true });
});

// A new series of `count` slices written by pydicom, as one multipart/related upload.
async function upload(modality, bodyPart, count) {
  const boundary = 'imgpipe-e2e-rules';
  const body = execFileSync('/usr/bin/python3', [
    join(dirname(fileURLToPath(import.meta.url)), 'make_series.py'),
    modality, bodyPart, String(count), boundary,
  ]);
  const r = await fetch(server.url + '/pacs/images', {
    method: 'POST',
    headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
    body,
  });
  assert.ok(r.ok, `ingest: ${r.status} ${await r.text()}`);
}

test('subscribe to a rule and see its result arrive', async () => {
  await withPage(browser, server, 'rules', {}, async (page) => {
    await page.goto(server.url + '/');
    const panel = page.getByTestId('rules-panel');
    await panel.getByRole('heading', { name: 'Automatic processing' }).waitFor();
    await panel.locator('[data-rule=chest-ct-lung]').waitFor();
    assert.deepEqual(
      await panel.getByTestId('rule').evaluateAll((els) => els.map((e) => e.dataset.rule)),
      ['chest-ct-lung', 'brain-mr'],
    );
    const toggle = page.getByRole('switch', { name: 'Subscribe to rule chest-ct-lung' });
    assert.equal(await toggle.isDisabled(), true, 'no client yet');

    await page.getByRole('button', { name: 'Provision client' }).click();
    const clientId = await page.getByTestId('client-id').textContent();
    await page.waitForSelector('[data-testid=connection][data-state=open]');
    await toggle.check();
    await page.waitForFunction(async (id) => {
      const r = await fetch('/api/rules', { headers: { 'X-Client-Id': id } });
      const { rules } = await r.json();
      return rules.find((x) => x.name === 'chest-ct-lung')?.subscribed === true;
    }, clientId);
    assert.equal(await page.getByRole('switch', { name: 'Subscribe to rule brain-mr' }).isChecked(), false);

    // A matching series arrives; once it has been quiet for a second the rule runs, and its
    // result is pushed to this page (a job the page did not start).
    await upload('CT', 'CHEST', 3);
    const job = page.locator('[data-testid=job][data-status=succeeded]');
    await job.first().waitFor({ timeout: 60000 });
    assert.equal(await job.count(), 1);
    assert.equal((await job.first().locator('strong').textContent()).trim(), 'threshold');
    const jobId = await job.first().getAttribute('data-job-id');
    const { firings } = await server.json('/api/rules/chest-ct-lung/jobs');
    assert.deepEqual(firings.map((f) => f.job_id), [jobId]);
    // The details came from GET /api/jobs/{id} as a recipient.
    const details = await server.json(`/api/jobs/${jobId}?client_id=${clientId}`);
    assert.equal(details.scope, 'series');
    // The demo's MR predates the rules: nothing fires for it.
    assert.deepEqual((await server.json('/api/rules/brain-mr/jobs')).firings, []);

    // The subscription and the received job survive a reload (GET /api/jobs lists both kinds).
    await page.reload();
    await page.waitForSelector('[data-rule=chest-ct-lung] [data-testid=rule-subscribe]:checked');
    await page.waitForSelector(`[data-job-id="${jobId}"][data-status=succeeded]`);
    assert.deepEqual(page.problems, []);
  });
});
