// Unit tests for the NATS connection options: the environment loader and every ConfigError message.
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../protocols/errors.js';
import {
  describeServers,
  natsOptionsFromEnv,
  serverList,
  validateNatsOptions,
  type NatsConnectionOptions,
} from '../../../cluster/natsOptions.js';

const seed = new TextDecoder().decode(createUser().getSeed());

/** Runs validateNatsOptions and returns the ConfigError it throws. */
function configError(o: unknown): ConfigError {
  try {
    validateNatsOptions(o as Partial<NatsConnectionOptions>);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function expectOption(o: unknown, option: string, text: RegExp): void {
  const err = configError(o);
  expect(err.code).toBe('INVALID_CONFIG');
  expect(err.details?.['option']).toBe(option);
  expect(err.message.startsWith(`${option}: `)).toBe(true);
  expect(err.message).toMatch(text);
}

const base = { servers: 'nats://127.0.0.1:4222' };

describe('natsOptionsFromEnv', () => {
  it('reads every HIVE_NATS_* variable', () => {
    const o = natsOptionsFromEnv({
      HIVE_NATS_URL: 'nats://a:4222, nats://b:4222,',
      HIVE_NATS_USER: 'u',
      HIVE_NATS_PASSWORD: ' p ',
      HIVE_NATS_TOKEN: 't',
      HIVE_NATS_NKEY: seed,
      HIVE_NATS_CREDS: '/x/y.creds',
      HIVE_NATS_TLS_CA: '/ca.pem',
      HIVE_NATS_TLS_CERT: '/cert.pem',
      HIVE_NATS_TLS_KEY: '/key.pem',
    });
    expect(o).toEqual({
      servers: ['nats://a:4222', 'nats://b:4222'],
      user: 'u',
      pass: ' p ',
      token: 't',
      nkey: seed,
      credsFile: '/x/y.creds',
      tls: { caFile: '/ca.pem', certFile: '/cert.pem', keyFile: '/key.pem' },
    });
  });

  it('leaves out unset and empty variables', () => {
    expect(natsOptionsFromEnv({})).toEqual({});
    expect(natsOptionsFromEnv({ HIVE_NATS_URL: '', HIVE_NATS_TOKEN: '  ', HIVE_NATS_TLS_CA: '' })).toEqual({});
  });
});

describe('serverList / describeServers', () => {
  it('splits comma-separated strings and trims', () => {
    expect(serverList('a:1, b:2 ,,')).toEqual(['a:1', 'b:2']);
    expect(serverList(['nats://a:1', ' '])).toEqual(['nats://a:1']);
  });

  it('hides credentials embedded in URLs', () => {
    expect(describeServers(['nats://u:secret@h:4222', 'h2:4222'])).toBe('nats://***@h:4222,h2:4222');
  });
});

describe('validateNatsOptions', () => {
  it('accepts valid options and returns them', () => {
    const full: NatsConnectionOptions = {
      servers: ['nats://127.0.0.1:4222', 'tls://example.org:4443', 'localhost:4222', 'nats://h'],
      name: 'node-1',
      user: 'u',
      pass: 'p',
      tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' },
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWaitMs: 0,
      reconnectJitterMs: 50,
      maxPingOut: 2,
      pingIntervalMs: 1000,
      connectTimeoutMs: 500,
      inboxPrefix: '_INBOX_hive.node1',
    };
    expect(validateNatsOptions(full)).toBe(full);
    expect(validateNatsOptions({ servers: 'a:1,b:2' }).servers).toBe('a:1,b:2');
    expect(validateNatsOptions({ ...base, nkey: seed }).nkey).toBe(seed);
    expect(validateNatsOptions({ ...base, token: 't' }).token).toBe('t');
    expect(validateNatsOptions({ ...base, credsFile: '/a.creds' }).credsFile).toBe('/a.creds');
    expect(validateNatsOptions({ ...base, user: 'u' }).user).toBe('u');
  });

  it('nats: not an object', () => {
    expectOption(null, 'nats', /must be an object/);
  });

  it('nats.servers: missing', () => {
    expectOption({}, 'nats.servers', /is required/);
  });

  it('nats.servers: wrong type', () => {
    expectOption({ servers: 4222 }, 'nats.servers', /URL string or an array/);
    expectOption({ servers: ['nats://a:1', 2] }, 'nats.servers', /URL string or an array/);
  });

  it('nats.servers: empty', () => {
    expectOption({ servers: [] }, 'nats.servers', /at least one server/);
    expectOption({ servers: ' , ' }, 'nats.servers', /at least one server/);
  });

  it('nats.servers: not a URL', () => {
    expectOption({ servers: 'nats://bad host:4222' }, 'nats.servers', /is not a server URL/);
  });

  it('nats.servers: wrong scheme', () => {
    expectOption({ servers: 'http://127.0.0.1:4222' }, 'nats.servers', /uses scheme http: \(expected nats:\/\/ or tls:\/\/\)/);
  });

  it('nats.servers: invalid port', () => {
    expectOption({ servers: 'nats://127.0.0.1:0' }, 'nats.servers', /invalid port/);
  });

  it('nats.servers: message hides credentials', () => {
    const err = configError({ servers: 'http://u:secret@h:1' });
    expect(err.message).not.toContain('secret');
  });

  it('nats.name: empty', () => {
    expectOption({ ...base, name: '' }, 'nats.name', /non-empty string/);
  });

  it('nats.user: not a string', () => {
    expectOption({ ...base, user: 7, pass: 'p' }, 'nats.user', /non-empty string/);
  });

  it('nats.pass: not a string', () => {
    expectOption({ ...base, user: 'u', pass: 7 }, 'nats.pass', /must be a string/);
  });

  it('nats.pass: without a user', () => {
    expectOption({ ...base, pass: 'p' }, 'nats.pass', /nats\.user is not/);
  });

  it('nats.token: empty', () => {
    expectOption({ ...base, token: '' }, 'nats.token', /non-empty string/);
  });

  it('nats.nkey: not a user seed', () => {
    expectOption({ ...base, nkey: 'UDSKQGPQBOJ5LU2ZQUEPKT7SB5F264Z6QCY6GY2VMWF4B2LVZTA6GLBT' }, 'nats.nkey', /user seed/);
  });

  it('nats.nkey: corrupt seed', () => {
    expectOption({ ...base, nkey: `${seed.slice(0, -3)}AAA` }, 'nats.nkey', /not a valid NKey seed/);
  });

  it('nats.credsFile: empty', () => {
    expectOption({ ...base, credsFile: '' }, 'nats.credsFile', /non-empty string/);
  });

  it('two authentication methods', () => {
    expectOption({ ...base, user: 'u', pass: 'p', token: 't' }, 'nats.token', /cannot be combined with nats\.user/);
    expectOption({ ...base, token: 't', credsFile: '/a.creds' }, 'nats.credsFile', /cannot be combined with nats\.token/);
    expectOption({ ...base, nkey: seed, credsFile: '/a.creds' }, 'nats.credsFile', /cannot be combined with nats\.nkey/);
  });

  it('nats.tls: not an object', () => {
    expectOption({ ...base, tls: 'yes' }, 'nats.tls', /must be an object/);
  });

  it('nats.tls: unknown key', () => {
    expectOption({ ...base, tls: { ca: '/ca.pem' } }, 'nats.tls.ca', /not a known option/);
  });

  it('nats.tls.caFile: empty', () => {
    expectOption({ ...base, tls: { caFile: '' } }, 'nats.tls.caFile', /non-empty string/);
  });

  it('nats.tls.keyFile: missing with certFile', () => {
    expectOption({ ...base, tls: { certFile: '/c.pem' } }, 'nats.tls.keyFile', /required with nats\.tls\.certFile/);
  });

  it('nats.tls.certFile: missing with keyFile', () => {
    expectOption({ ...base, tls: { keyFile: '/k.pem' } }, 'nats.tls.certFile', /required with nats\.tls\.keyFile/);
  });

  it('nats.reconnect: not a boolean', () => {
    expectOption({ ...base, reconnect: 'yes' }, 'nats.reconnect', /true or false/);
  });

  it('nats.maxReconnectAttempts: below -1', () => {
    expectOption({ ...base, maxReconnectAttempts: -2 }, 'nats.maxReconnectAttempts', /integer >= -1/);
  });

  it('nats.reconnectTimeWaitMs: negative', () => {
    expectOption({ ...base, reconnectTimeWaitMs: -1 }, 'nats.reconnectTimeWaitMs', /integer >= 0/);
  });

  it('nats.reconnectJitterMs: not an integer', () => {
    expectOption({ ...base, reconnectJitterMs: 1.5 }, 'nats.reconnectJitterMs', /integer >= 0/);
  });

  it('nats.maxPingOut: zero', () => {
    expectOption({ ...base, maxPingOut: 0 }, 'nats.maxPingOut', /integer >= 1/);
  });

  it('nats.pingIntervalMs: zero', () => {
    expectOption({ ...base, pingIntervalMs: 0 }, 'nats.pingIntervalMs', /integer >= 1/);
  });

  it('nats.connectTimeoutMs: not a number', () => {
    expectOption({ ...base, connectTimeoutMs: '5s' }, 'nats.connectTimeoutMs', /integer >= 1, got "5s"/);
  });

  it('nats.inboxPrefix: wildcard', () => {
    expectOption({ ...base, inboxPrefix: '_INBOX.>' }, 'nats.inboxPrefix', /subject tokens without wildcards/);
  });
});
