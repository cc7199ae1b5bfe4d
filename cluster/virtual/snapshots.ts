// What the snapshot bucket holds for a virtual actor: its persisted xstate snapshot, wrapped with the owner
// that wrote it and the placement revision that owner held. Every write is revision-checked (KV create or
// update with the revision the writer last read or wrote), so the writes form one chain: a writer whose
// expected revision is stale (someone else claimed the actor since) is refused and must stop.
import type { FrameCodec } from '../../protocols/frame.js';

/** One snapshot entry. `state` is the encoded persisted snapshot, null before the first change. */
export interface SnapshotRecord {
  /** The node that wrote it. */
  node: string;
  /** The placement revision that node held when it wrote it (its fencing token). */
  placement: number;
  state: Uint8Array | null;
}

export function encodeSnapshot(codec: FrameCodec, record: SnapshotRecord): Uint8Array {
  return codec.encode({ v: 1, n: record.node, p: record.placement, s: record.state });
}

/**
 * The record in a snapshot entry. An entry written before records existed (the bare encoded snapshot) is
 * read as its state. Throws BAD_FRAME when the bytes are not a frame at all.
 */
export function decodeSnapshot(codec: FrameCodec, bytes: Uint8Array): SnapshotRecord {
  const v = codec.decode(bytes) as Record<string, unknown> | null;
  if (typeof v === 'object' && v !== null && v['v'] === 1 && typeof v['n'] === 'string' && typeof v['p'] === 'number' && (v['s'] === null || v['s'] instanceof Uint8Array)) {
    return { node: v['n'], placement: v['p'], state: v['s'] };
  }
  return { node: '', placement: 0, state: bytes };
}
