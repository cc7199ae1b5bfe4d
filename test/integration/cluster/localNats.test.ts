// `hive start` with no NATS running starts a nats-server child (JetStream, 8 MB payloads). With the
// nats-server 2.9 on this machine the child exited at once (`--max_payload` is no flag before 2.10) and the
// node fell back to the in-process transport; found while writing bench chaos.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { startChildNats } from '../../../cluster/localNats.js';
import { freePort, natsBinaryAvailable } from '../../support/services.js';

describe.skipIf(!natsBinaryAvailable())('the child nats-server of hive start', () => {
  it('starts with JetStream and 8 MB payloads', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hive-localnats-'));
    const child = await startChildNats(dir, await freePort());
    try {
      expect(child).toBeDefined();
      const nc = await connect({ servers: child!.url });
      try {
        expect(nc.info?.max_payload).toBe(8 * 1024 * 1024);
        expect(nc.info?.jetstream).toBe(true);
      } finally {
        await nc.close();
      }
    } finally {
      await child?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
