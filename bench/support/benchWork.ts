// The fixed work of one pool benchmark task, shared by the Hive and BullMQ worker processes.
import { createHash } from 'node:crypto';

const payload = Buffer.alloc(4096, 7);

/** Four SHA-256 hashes of 4 KB (~50-100 µs). */
export function work(n: number): string {
  let h: Buffer = payload;
  for (let i = 0; i < 4; i++) h = createHash('sha256').update(h).update(String(n)).digest();
  return h.toString('hex', 0, 8);
}
