// The study browser with an upstream PACS: a fake DICOMweb server (QIDO-RS /studies only, 30
// studies, honouring limit and offset) stands in for the hospital's PACS. Its studies follow the
// local ones with a "remote" badge, the server cannot count them (total -1) so the page offers
// Next while pages are full, and when the upstream stops answering the server's warning shows
// above the local studies.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { startAll, stopAll, withPage } from './harness.mjs';

const REMOTE_STUDIES = 30;
let upstreamDown = false;
const upstream = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (upstreamDown || url.pathname !== '/dicom-web/studies') {
    res.writeHead(upstreamDown ? 503 : 404).end();
    return;
  }
  const limit = Number(url.searchParams.get('limit') ?? 100);
  const offset = Number(url.searchParams.get('offset') ?? 0);
  const studies = [];
  for (let i = offset; i < Math.min(REMOTE_STUDIES, offset + limit); i++) {
    studies.push({
      '0020000D': { vr: 'UI', Value: [`2.25.9000${i + 100}`] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: `REMOTE^PATIENT${i + 1}` }] },
      '00100020': { vr: 'LO', Value: [`UP-${i + 1}`] },
      '00080020': { vr: 'DA', Value: ['20230102'] },
      '00081030': { vr: 'LO', Value: ['REMOTE STUDY'] },
      '00080061': { vr: 'CS', Value: ['CT'] },
      '00201206': { vr: 'IS', Value: [1] },
      '00201208': { vr: 'IS', Value: [2] },
    });
  }
  res.writeHead(200, { 'Content-Type': 'application/dicom+json' }).end(JSON.stringify(studies));
});

let server;
let browser;
before(async () => {
  await new Promise((ok) => upstream.listen(0, '127.0.0.1', ok));
  // The server inherits the environment (harness.mjs spawns it without its own).
  process.env.IMGPIPE_PACS_UPSTREAM_URL = `http://127.0.0.1:${upstream.address().port}/dicom-web`;
  process.env.IMGPIPE_PACS_UPSTREAM_TIMEOUT_S = '5';
  ({ server, browser } = await startAll());
});
after(async () => {
  await stopAll({ server, browser });
  upstream.close();
});

test('remote studies: badge, paging without a total, the warning when the upstream is down', async () => {
  await withPage(browser, server, 'upstream', {}, async (page) => {
    await page.goto(server.url + '/');
    await page.getByRole('button', { name: 'Browse studies' }).click();
    const list = page.getByRole('list', { name: 'Browse studies' });
    await page.getByText('Studies 1–25 · More studies may follow').waitFor();
    assert.equal(await list.getByRole('listitem').count(), 25);
    const remote = list.getByRole('listitem').filter({ has: page.getByTestId('remote') });
    assert.equal(await remote.count(), 22, 'the 3 demo studies are local, the rest remote');
    assert.match(await remote.first().textContent(), /REMOTE, PATIENT1/);

    await page.getByTestId('studies-next').click();
    await page.getByText('Studies 26–33').waitFor();
    assert.equal(await list.getByRole('listitem').count(), 8);
    assert.equal(await page.getByTestId('studies-next').isDisabled(), true, 'a short page is the end');
    assert.equal(await page.getByTestId('pacs-warning').count(), 0);

    upstreamDown = true;
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByTestId('pacs-warning').waitFor();
    assert.match(await page.getByTestId('pacs-warning').textContent(), /^Note: only local studies listed: .*503/);
    assert.equal(await list.getByRole('listitem').count(), 3, 'the local studies are still listed');
    assert.equal(await page.getByTestId('remote').count(), 0);
    assert.deepEqual(page.problems, []);
  });
});
