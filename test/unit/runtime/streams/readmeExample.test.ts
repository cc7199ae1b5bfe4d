// The README's "Streamed replies" example, run as written: the ts block is read from README.md (so the test fails
// when the README drifts), its `agent-hive` import pointed at this checkout, and what it prints is checked.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..', '..');
const generated = join(here, 'readme-example.generated.ts');

afterEach(() => {
  rmSync(generated, { force: true });
  vi.restoreAllMocks();
});

function exampleOf(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
  if (block === null) throw new Error(`section "${heading}" has no ts block`);
  return block[1];
}

describe('README: Streamed replies', () => {
  it('runs the example: tokens printed as they arrive, the final value, the pool agent\'s words', async () => {
    const code = exampleOf('Streamed replies').replace("from 'agent-hive'", `from '${join(root, 'index.js')}'`);
    writeFileSync(generated, `${code}\nexport {};\n`);
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(`${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}\n`));
    await import(pathToFileURL(generated).href);
    expect(out.join('')).toBe('you said: hello streams {"type":"done"}\none\ntwo\nthree\n');
  });
});
