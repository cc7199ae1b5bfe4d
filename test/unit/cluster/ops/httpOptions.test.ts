import { describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, parseHttpAddress, resolveHttpAddress } from '../../../../cluster/ops/httpOptions.js';
import { HiveError } from '../../../../protocols/errors.js';

describe('HTTP address', () => {
  it('parses host:port, :port, port, [v6]:port and off', () => {
    expect(parseHttpAddress('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080, fallback: false });
    expect(parseHttpAddress(':0')).toEqual({ host: DEFAULT_HTTP_HOST, port: 0, fallback: false });
    expect(parseHttpAddress('9000')).toEqual({ host: DEFAULT_HTTP_HOST, port: 9000, fallback: false });
    expect(parseHttpAddress('[::1]:9000')).toEqual({ host: '::1', port: 9000, fallback: false });
    expect(parseHttpAddress('localhost:1')).toEqual({ host: 'localhost', port: 1, fallback: false });
    expect(parseHttpAddress('off')).toBe(false);
  });

  it('refuses bad addresses with INVALID_CONFIG naming the option', () => {
    for (const bad of ['', 'host', 'h:99999', 'h:-1', 'a b:80', '1.5']) {
      let caught: unknown;
      try {
        parseHttpAddress(bad, 'HIVE_HTTP');
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(HiveError);
      expect((caught as HiveError).code).toBe('INVALID_CONFIG');
      expect((caught as HiveError).message).toContain('HIVE_HTTP');
    }
  });

  it('resolves flag, then HIVE_HTTP, then the default with fallback', () => {
    expect(resolveHttpAddress(false, { HIVE_HTTP: ':1' })).toBe(false);
    expect(resolveHttpAddress('127.0.0.1:5', { HIVE_HTTP: ':1' })).toEqual({ host: '127.0.0.1', port: 5, fallback: false });
    expect(resolveHttpAddress(undefined, { HIVE_HTTP: ':1' })).toEqual({ host: DEFAULT_HTTP_HOST, port: 1, fallback: false });
    expect(resolveHttpAddress(undefined, { HIVE_HTTP: 'off' })).toBe(false);
    expect(resolveHttpAddress(undefined, {})).toEqual({ host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT, fallback: true });
  });
});
