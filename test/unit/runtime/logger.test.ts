import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../runtime/config.js';
import { createLogger, effectiveLogFormat } from '../../../runtime/logger.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('log format', () => {
  it('auto is pretty on a terminal and JSON otherwise', () => {
    expect(effectiveLogFormat('auto', true)).toBe('pretty');
    expect(effectiveLogFormat('auto', false)).toBe('json');
    expect(effectiveLogFormat('json', true)).toBe('json');
    expect(effectiveLogFormat('pretty', false)).toBe('pretty');
  });

  it('writes JSON lines with the node id, or human-readable lines', async () => {
    const json = capture();
    createLogger({ level: 'info', nodeId: 'n1', cluster: 'c', format: 'json', destination: json.stream }).info({ pool: 'p' }, 'pool autoscaled');
    const line = JSON.parse(json.text().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ node: 'n1', cluster: 'c', pool: 'p', msg: 'pool autoscaled', level: 30 });

    const pretty = capture();
    createLogger({ level: 'info', nodeId: 'n1', cluster: 'c', format: 'pretty', destination: pretty.stream }).warn({ pool: 'p' }, 'breaker opened');
    for (let i = 0; i < 100 && !pretty.text().includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(pretty.text()).toMatch(/WARN.*n1 breaker opened/);
    expect(pretty.text()).toContain('pool: "p"');
    expect(() => JSON.parse(pretty.text()) as unknown).toThrow();
  });

  it('is an option with an env variable, validated with an error naming it', () => {
    expect(resolveConfig({}, { HIVE_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(resolveConfig({}, {}).logFormat).toBe('auto');
    expect(() => resolveConfig({ logFormat: 'xml' as never }, {})).toThrow(/logFormat/);
  });
});
