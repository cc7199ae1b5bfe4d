import { describe, expect, it } from 'vitest';
import { DEFAULT_PASSIVATE_AFTER_MS, configFromEnv, defaultConfig, resolveConfig } from '../../../runtime/config.js';
import { ConfigError } from '../../../protocols/errors.js';

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('INVALID_CONFIG');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills every option from the exported defaults', () => {
    const c = resolveConfig({});
    expect(c.cluster).toBe(defaultConfig.cluster);
    expect(c.mailboxCapacity).toBe(defaultConfig.mailboxCapacity);
    expect(c.nats).toBeUndefined();
    expect(c.nodeId).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('takes the environment, and explicit options over it', () => {
    const env = { HIVE_CLUSTER: 'from-env', HIVE_MAILBOX_CAPACITY: '7', HIVE_NATS_URL: 'nats://a:1, nats://b:2', HIVE_LOG_LEVEL: 'warn' };
    const c = resolveConfig({ mailboxCapacity: 9 }, env);
    expect(c.cluster).toBe('from-env');
    expect(c.mailboxCapacity).toBe(9);
    expect(c.logLevel).toBe('warn');
    expect(c.nats?.servers).toEqual(['nats://a:1', 'nats://b:2']);
  });

  it('accepts nats as a URL string', () => {
    expect(resolveConfig({ nats: 'nats://127.0.0.1:4222' }).nats).toEqual({ servers: ['nats://127.0.0.1:4222'] });
    expect(resolveConfig({ nats: false }).nats).toBeUndefined();
    // `hive start --nats a,b,c` passes the flag's string as it is
    expect(resolveConfig({ nats: 'nats://127.0.0.1:4231, nats://127.0.0.1:4232,nats://127.0.0.1:4233' }).nats?.servers).toEqual(['nats://127.0.0.1:4231', 'nats://127.0.0.1:4232', 'nats://127.0.0.1:4233']);
  });

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['cluster', { cluster: 'has.dot' }, 'invalid option cluster'],
    ['nodeId', { nodeId: 'a b' }, 'invalid option nodeId'],
    ['dataDir', { dataDir: '' }, 'invalid option dataDir'],
    ['database', { database: 'mysql://x' }, 'invalid option database'],
    ['logLevel', { logLevel: 'loud' }, 'invalid option logLevel'],
    ['mailboxCapacity', { mailboxCapacity: 0 }, 'invalid option mailboxCapacity'],
    ['askTimeoutMs', { askTimeoutMs: 1.5 }, 'invalid option askTimeoutMs'],
    ['maxMessageBytes', { maxMessageBytes: 10 }, 'invalid option maxMessageBytes'],
    ['compressThresholdBytes', { compressThresholdBytes: -1 }, 'invalid option compressThresholdBytes'],
    ['compressLevel', { compressLevel: 12 }, 'invalid option compressLevel'],
    ['compressFormat', { compressFormat: 'zstd' }, 'invalid option compressFormat'],
    ['heartbeatMs', { heartbeatMs: 'fast' }, 'invalid option heartbeatMs'],
    ['failureAfterMs', { heartbeatMs: 1000, failureAfterMs: 500 }, 'invalid option failureAfterMs'],
    ['jsReplicas', { jsReplicas: 0 }, 'invalid option jsReplicas'],
    ['jsReplicas', { jsReplicas: 6 }, 'invalid option jsReplicas'],
    ['passivateAfterMs', { passivateAfterMs: -1 }, 'invalid option passivateAfterMs'],
    ['nats.servers', { nats: [] }, 'invalid option nats.servers'],
    ['nats.servers', { nats: ['http://x'] }, 'invalid option nats.servers'],
    ['unknown', { mailboxCapasity: 3 }, 'unknown option mailboxCapasity'],
  ];
  for (const [option, input, message] of cases) {
    it(`names the option in its error - ${option}`, () => {
      const err = refusal(() => resolveConfig(input));
      expect(err.message).toContain(message);
      expect(err.details?.['option']).toBe(option === 'unknown' ? 'mailboxCapasity' : option);
    });
  }

  it('names the variable of an out-of-range environment value, and not when an explicit option overrides it', () => {
    const err = refusal(() => resolveConfig({}, { HIVE_MAILBOX_CAPACITY: '-5' }));
    expect(err.message).toContain('mailboxCapacity (from HIVE_MAILBOX_CAPACITY)');
    expect(err.details).toMatchObject({ option: 'mailboxCapacity', variable: 'HIVE_MAILBOX_CAPACITY' });
    expect(refusal(() => resolveConfig({ mailboxCapacity: 0 }, { HIVE_MAILBOX_CAPACITY: '5' })).message).not.toContain('HIVE_MAILBOX_CAPACITY');
    expect(refusal(() => resolveConfig({}, { HIVE_CLUSTER: 'a.b' })).message).toContain('cluster (from HIVE_CLUSTER)');
    expect(refusal(() => resolveConfig({}, { HIVE_NATS_URL: 'http://x y' })).message).toContain('(from HIVE_NATS_URL)');
  });

  it('compressFormat: brotli by default, deflate from HIVE_COMPRESS_FORMAT or the option; the error names the variable', () => {
    expect(resolveConfig({}).compressFormat).toBe('brotli');
    expect(resolveConfig({}, { HIVE_COMPRESS_FORMAT: 'deflate' }).compressFormat).toBe('deflate');
    expect(resolveConfig({ compressFormat: 'brotli' }, { HIVE_COMPRESS_FORMAT: 'deflate' }).compressFormat).toBe('brotli');
    expect(refusal(() => resolveConfig({}, { HIVE_COMPRESS_FORMAT: 'gzip' })).message).toContain('compressFormat (from HIVE_COMPRESS_FORMAT)');
  });

  it('jsReplicas: 1 by default, from HIVE_JS_REPLICAS, the explicit option over it; the error names the variable', () => {
    expect(defaultConfig.jsReplicas).toBe(1);
    expect(resolveConfig({}).jsReplicas).toBe(1);
    expect(resolveConfig({}, { HIVE_JS_REPLICAS: '3' }).jsReplicas).toBe(3);
    expect(resolveConfig({ jsReplicas: 5 }, { HIVE_JS_REPLICAS: '3' }).jsReplicas).toBe(5);
    expect(refusal(() => resolveConfig({}, { HIVE_JS_REPLICAS: '7' })).message).toContain('jsReplicas (from HIVE_JS_REPLICAS)');
    expect(refusal(() => configFromEnv({ HIVE_JS_REPLICAS: 'three' })).message).toContain('jsReplicas (from HIVE_JS_REPLICAS)');
  });

  it('reads passivateAfterMs from HIVE_PASSIVATE_AFTER_MS (0 never passivates) and defaults to DEFAULT_PASSIVATE_AFTER_MS', () => {
    expect(resolveConfig({}).passivateAfterMs).toBe(DEFAULT_PASSIVATE_AFTER_MS);
    expect(resolveConfig({}, { HIVE_PASSIVATE_AFTER_MS: '0' }).passivateAfterMs).toBe(0);
    expect(resolveConfig({ passivateAfterMs: 5_000 }, { HIVE_PASSIVATE_AFTER_MS: '0' }).passivateAfterMs).toBe(5_000);
    expect(refusal(() => resolveConfig({}, { HIVE_PASSIVATE_AFTER_MS: '1.5' })).message).toContain('passivateAfterMs (from HIVE_PASSIVATE_AFTER_MS)');
  });

  it('names the variable of a non-numeric environment value', () => {
    const err = refusal(() => configFromEnv({ HIVE_ASK_TIMEOUT_MS: 'soon' }));
    expect(err.message).toContain('askTimeoutMs (from HIVE_ASK_TIMEOUT_MS)');
  });
});
