// Hive installed into a separate project from a tarball, as the README's "Use it from your own project" says:
// `npm pack` of this clone's build, `npm install <tarball> xstate` in a fresh project, then the README's code
// example (import `agent-hive`, an in-process Hive, spawn a machine, ask it) as an ESM script there, and the
// `hive` command linked into that project's node_modules/.bin. npm runs with --prefer-offline (the cache a
// clone's `npm ci` filled), --no-audit and --no-fund, so it takes seconds, not a registry round trip per package.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/hiveProcess.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  // no HIVE_* from the test's environment: the project runs as a user's would
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HIVE_')));
  return new Promise((done) => {
    execFile(cmd, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('installed from a tarball into a separate project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hive-install-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('imports agent-hive, runs the README code example, and links the hive command', { timeout: 240_000 }, async () => {
    // the build e2e tests run (npm test builds first); --ignore-scripts packs it without rebuilding dist/
    // under the other tests' feet
    expect(existsSync(join(repoRoot, 'dist', 'index.js')), 'dist/ is missing: run npm run build').toBe(true);
    const pack = await run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], repoRoot);
    expect(pack.code, pack.stderr).toBe(0);
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const tarball = join(dir, `agent-hive-${version}.tgz`);
    expect(readdirSync(dir)).toContain(`agent-hive-${version}.tgz`);

    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-agents', version: '1.0.0', private: true, type: 'module' }));
    // the README's install line
    const install = await run(npm, ['install', tarball, 'xstate', '--prefer-offline', '--no-audit', '--no-fund'], project);
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(project, 'node_modules', 'agent-hive', 'dist', 'index.js'))).toBe(true);

    // the README's code example ("3. Code"), as a script of that project
    writeFileSync(
      join(project, 'main.mjs'),
      `import { Hive, reply } from 'agent-hive';
import { setup } from 'xstate';

const machine = setup({}).createMachine({
  on: { ping: { actions: ({ event }) => reply(event, { type: 'pong' }) } },
});

const hive = await Hive.start({ cluster: 'demo' });
const ref = await hive.spawn(machine, { id: 'echo-1', input: {} });
ref.tell({ type: 'note', text: 'hi' });
const answer = await ref.ask({ type: 'ping' }, { timeoutMs: 1000 });
const same = await hive.ref('echo-1').ask({ type: 'ping' }, { timeoutMs: 1000 });
console.log(JSON.stringify({ answer, same }));
await hive.stop();
`,
    );
    const script = await run(process.execPath, ['main.mjs'], project);
    expect(script.code, script.stderr).toBe(0);
    expect(JSON.parse(script.stdout.trim().split('\n').at(-1)!)).toEqual({ answer: { type: 'pong' }, same: { type: 'pong' } });
    // the one xstate: Hive's and the project's are the same copy
    expect(existsSync(join(project, 'node_modules', 'agent-hive', 'node_modules', 'xstate'))).toBe(false);

    // the hive command from that project (what `npx hive` runs)
    const help = await run(process.execPath, [join(project, 'node_modules', '.bin', 'hive'), '--help'], project);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/Usage: hive/);
    expect(help.stdout).toMatch(/\bstart\b/);
    expect(help.stdout).toMatch(/\bpools\b/);
  });
});
