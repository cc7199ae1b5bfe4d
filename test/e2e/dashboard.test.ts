// The operations surface of `hive start` as separate processes: the banner prints the dashboard URL, the
// endpoints answer, and the dashboard, opened in headless Chromium (Debian's, driven by playwright-core),
// shows both nodes and the pool and sees the done count rise while tasks run, without a reload. It saves a
// screenshot under test/output/ (the README's image is a copy of one).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { repoRoot, startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { chromiumPath, natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const hasNats = natsBinaryAvailable();
const chromium = hasNats ? chromiumPath() : undefined;
export const outputDir = join(repoRoot, 'test', 'output');

function dashboardUrl(n: HiveNode): string {
  const m = /dashboard\s+(http:\/\/[^\s/]+)\//.exec(n.out());
  if (m === null) throw new Error(`no dashboard URL in the banner of ${n.id}: ${n.out()}`);
  return m[1];
}

describe.skipIf(!hasNats)('dashboard and endpoints - end to end', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  const cluster = uniqueName('dash');
  const procs: HiveNode[] = [];
  let client: Hive;

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-dash-'));
    for (const id of ['d1', 'd2']) {
      const args = ['--no-memory', '--nats', server.url, '--cluster', cluster, '--data-dir', join(dataDir, id), '--http', '127.0.0.1:0', '--load', join(import.meta.dirname, 'fixtures', 'pool.ts')];
      procs.push(await startHiveNode(args, id, process.env, 30_000));
    }
    client = await Hive.start({ cluster, nodeId: 'client', nats: server.url, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 1500 });
  }, 90_000);

  afterAll(async () => {
    await client?.stop();
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the dashboard URL in the banner and serves the endpoints there', async () => {
    for (const p of procs) {
      const url = dashboardUrl(p);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = (await (await fetch(`${url}/healthz`)).json()) as { node: string };
      expect(health.node).toBe(p.id);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain(`node="${p.id}"`);
    }
  });

  it.skipIf(chromium === undefined)('shows both nodes and the pool in headless Chromium, and the done count rises without a reload', async () => {
    const { chromium: launcher } = await import('playwright-core');
    const browser = await launcher.launch({
      executablePath: chromium!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--no-default-browser-check'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // a virtual actor, so that the dashboard has one to place
      expect(await client.actor('counter', 'dash-1').ask({ type: 'inc' })).toMatchObject({ type: 'count', value: 1 });
      await page.goto(`${dashboardUrl(procs[0])}/`);
      await page.locator('tr[data-node="d1"]').waitFor({ timeout: 20_000 });
      await page.locator('tr[data-node="d2"]').waitFor({ timeout: 20_000 });
      await page.locator('tr[data-pool="work"]').waitFor({ timeout: 20_000 });
      await page.locator('#virtual tr', { hasText: 'dash-1' }).waitFor({ timeout: 20_000 });
      const doneCell = page.locator('tr[data-pool="work"] td.done');
      const before = Number(await doneCell.textContent());
      // a mark on the page's global object: a reload would wipe it
      await page.evaluate(() => ((globalThis as Record<string, unknown>)['hiveNoReload'] = true));
      const tasks = Array.from({ length: 12 }, (_, n) => client.submit('work', { n, ms: 5 }, { timeoutMs: 30_000 }));
      await Promise.all(tasks);
      // the page polls by itself: wait for the count to pass what was submitted, with no reload
      const target = before + 12;
      for (const end = Date.now() + 30_000; Number(await doneCell.textContent()) < target && Date.now() < end; ) await new Promise((r) => setTimeout(r, 200));
      expect(Number(await doneCell.textContent())).toBeGreaterThanOrEqual(target);
      expect(await page.evaluate(() => (globalThis as Record<string, unknown>)['hiveNoReload'])).toBe(true);
      // KPI tiles are coloured against the thresholds
      expect(await page.locator('.tile[data-kpi="memoryMb"]').getAttribute('data-level')).toMatch(/^(ok|warn|crit)$/);
      expect(errors).toEqual([]);
      mkdirSync(outputDir, { recursive: true });
      await page.screenshot({ path: join(outputDir, 'dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
