// The README's quick start and NATS-CLI examples, run as written: the commands are read from README.md (so
// the test fails when the README drifts), the node is started with the quick start's own command line, and
// each example's `# <json>` comment is the answer it must print. The environment points the commands at a
// nats-server and a data folder this test owns (HIVE_NATS_URL, HIVE_DATA_DIR), nothing else differs. There is
// no `nats` CLI binary here: a `nats req <subject> '<payload>'` line is sent as that CLI sends it (a plain
// payload, no headers, a reply subject) with a raw client.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, type OwnNatsServer } from '../support/services.js';

/** One command of a README code block and what its `#` comment says it prints. */
interface Example {
  command: string;
  comment: string;
}

/** The shell code blocks of the README section whose heading starts with `heading`. */
export function sectionBlocks(readme: string, heading: string): Example[][] {
  const start = readme.split('\n').findIndex((l) => /^#{2,3} /.test(l) && l.replace(/^#+ /, '').startsWith(heading));
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const lines = readme.split('\n').slice(start + 1);
  const end = lines.findIndex((l) => /^#{2,3} /.test(l));
  const body = (end < 0 ? lines : lines.slice(0, end)).join('\n');
  return [...body.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    (m[1] ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
      .map(splitComment),
  );
}

/** Splits `cmd   # comment` at the first `#` outside single quotes. */
function splitComment(line: string): Example {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === "'") quoted = !quoted;
    else if (line[i] === '#' && !quoted && (i === 0 || line[i - 1] === ' ')) return { command: line.slice(0, i).trim(), comment: line.slice(i + 1).trim() };
  }
  return { command: line.trim(), comment: '' };
}

/** Checks printed JSON against a `# {...}` comment: equal, or containing its fields when it ends with `...}`. */
function expectAnswer(printed: string, comment: string): void {
  if (!comment.startsWith('{')) return;
  const actual = JSON.parse(printed.trim()) as unknown;
  if (comment.endsWith(',...}')) expect(actual).toMatchObject(JSON.parse(`${comment.slice(0, -5)}}`) as object);
  else expect(actual).toEqual(JSON.parse(comment));
}

function sh(command: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn('sh', ['-c', command], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

describe('README examples - extraction', () => {
  it('finds the quick start (start, test) and its example commands, and the NATS CLI examples', () => {
    const [setup, examples] = sectionBlocks(readme, 'Quick start');
    expect(setup?.map((e) => e.command)).toEqual(['npm ci && node bin/hive.js start --cluster demo', 'npm test']);
    expect(examples?.length).toBeGreaterThanOrEqual(3);
    expect(sectionBlocks(readme, '2. The NATS CLI')[0]?.every((e) => e.command.startsWith('nats req hive.demo.'))).toBe(true);
  });
});

describe.skipIf(!natsBinaryAvailable())('README examples - run as written', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  let node: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-readme-'));
    env = { ...process.env, HIVE_NATS_URL: server.url, HIVE_DATA_DIR: dataDir };
    delete env['HIVE_CLUSTER'];
  });

  afterAll(async () => {
    if (node !== undefined && node.exitCode === null && node.signalCode === null) {
      const exited = new Promise((r) => node?.once('exit', r));
      node.kill('SIGTERM');
      await exited;
    }
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the quick start starts a node, its examples print what the README says, then the NATS CLI examples', async () => {
    const [setup, examples] = sectionBlocks(readme, 'Quick start');
    // `npm ci` has run (this suite runs after it); the node is the rest of the line, as written
    const startLine = setup?.[0]?.command.split(' && ').find((c) => !c.startsWith('npm ')) ?? '';
    expect(startLine).toMatch(/^node bin\/hive\.js start /);
    node = spawn('sh', ['-c', `exec ${startLine}`], { cwd: repoRoot, env });
    let out = '';
    node.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    node.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    // started, and its embedded memory open: opening a new PGlite folder keeps the node's event loop busy for
    // seconds (a person typing the next command takes longer than that)
    const end = Date.now() + 60_000;
    while (!/hive node \S+ started/.test(out) || !/memory ready/.test(out)) {
      if (node.exitCode !== null || Date.now() > end) throw new Error(`the quick start's node did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // the banner's "try" line works as printed, in the clone
    const tryLine = /^ {2}try {8}(.*?)(?: {3}\(.*)?$/m.exec(out)?.[1];
    expect(tryLine).toBeDefined();

    for (const { command, comment } of examples ?? []) {
      const r = await sh(command, env);
      expect(r.code, `${command}\n${r.stdout}${r.stderr}`).toBe(0);
      expectAnswer(r.stdout, comment);
    }

    const nc = await connect({ servers: server.url });
    try {
      for (const { command, comment } of sectionBlocks(readme, '2. The NATS CLI')[0] ?? []) {
        const m = /^nats req (\S+) '(.*)'$/.exec(command);
        expect(m, command).not.toBeNull();
        const [, subject = '', payload = ''] = m ?? [];
        if (comment.startsWith('no responders')) {
          await expect(nc.request(subject, payload, { timeout: 5000 })).rejects.toThrow(/no responders|503/i);
          continue;
        }
        const reply = await nc.request(subject, payload, { timeout: 5000 });
        const text = new TextDecoder().decode(reply.data);
        expect(() => JSON.parse(text) as unknown, `${command} answered ${text}`).not.toThrow();
        expectAnswer(text, comment);
      }
    } finally {
      await nc.close();
    }

    const tried = await sh(tryLine ?? 'false', env);
    expect(tried.code, tried.stderr).toBe(0);
    expect(JSON.parse(tried.stdout.trim().split('\n').at(-1) ?? '')).toEqual({ type: 'pong' });
  }, 120_000);
});
