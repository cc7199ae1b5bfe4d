import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../runtime/redact.js';
import { credentialsFromUrls, describeServers } from '../../../cluster/natsOptions.js';

describe('redactUrl', () => {
  it.each([
    ['postgres://u:pw@h:5432/db', 'postgres://***@h:5432/db'],
    ['mysql://root:pw@h/db', 'mysql://***@h/db'],
    ['nats://tok@h:4222', 'nats://***@h:4222'],
    ['postgres://u@h/db?sslmode=require&password=pw', 'postgres://***@h/db?sslmode=require&password=***'],
    ['postgres://h/db?sslpassword=pw&user=u&token=t', 'postgres://h/db?sslpassword=***&user=u&token=***'],
    ['not a url :pw@', 'not a url :pw@'],
    ['postgres://h/db', 'postgres://h/db'],
  ])('%s → %s', (input, shown) => {
    expect(redactUrl(input)).toBe(shown);
  });

  it('describes NATS servers without credentials and takes URL credentials out for the client', () => {
    expect(describeServers(['nats://u:pw@a:1', 'nats://b:2'])).toBe('nats://***@a:1,nats://b:2');
    expect(credentialsFromUrls(['nats://u:p%40w@a:1', 'nats://b:2'])).toEqual({ servers: ['nats://a:1', 'nats://b:2'], user: 'u', pass: 'p@w' });
    expect(credentialsFromUrls(['nats://tok@a:1'])).toEqual({ servers: ['nats://a:1'], token: 'tok' });
  });
});
