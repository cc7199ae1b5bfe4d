// What the snapshot bucket holds for a virtual actor: its persisted xstate snapshot, wrapped with the owner
// that wrote it and the placement revision that owner held. Every write is revision-checked (KV create or
// update with the revision the writer last read or wrote), so the writes form one chain: a writer whose
// expected revision is stale (someone else claimed the actor since) is refused and must stop.
import { ActorStoppedError, UnavailableError, toHiveError, type HiveError } from '../../protocols/errors.js';
import type { FrameCodec } from '../../protocols/frame.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import { fencedError, type Activation, type FenceReason } from './Activation.js';
import { placementKey } from './placement.js';

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

/** What a {@link SnapshotWriter} needs. */
export interface SnapshotWriterDeps {
  system: ActorSystem;
  snapshots: KeyValueStore;
  placement: KeyValueStore;
  /** `a` must stop serving (its save was refused or failed). */
  end: (a: Activation, reason: FenceReason, err: HiveError) => void;
}

/**
 * Claims and saves the snapshot entries of a node's activations, every write revision-checked: one write
 * in flight per activation, changes made meanwhile coalesced into the next; waiters resolved once the
 * version they wait for is saved.
 */
export class SnapshotWriter {
  constructor(private readonly deps: SnapshotWriterDeps) {}

  private get system(): ActorSystem {
    return this.deps.system;
  }

  private get nodeId(): string {
    return this.deps.system.config.nodeId;
  }

  /**
   * Claims the snapshot entry for the holder of `placementRevision`: rewrites it unchanged with a revision
   * check, so a previous owner's next save is refused. Returns the state and the revision written.
   */
  async claim(kind: string, key: string, placementRevision: number): Promise<{ state: Uint8Array | null; revision: number }> {
    const skey = placementKey(kind, key);
    const codec = this.system.codec;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.deps.snapshots.get(skey);
      const state = entry === undefined ? null : decodeSnapshot(codec, entry.value).state;
      const claim = encodeSnapshot(codec, { node: this.nodeId, placement: placementRevision, state });
      const revision = entry === undefined ? await this.deps.snapshots.create(skey, claim) : await this.deps.snapshots.update(skey, claim, entry.revision);
      if (revision !== undefined) return { state, revision };
      // someone wrote it since the read: still ours?
      const p = await this.deps.placement.get(skey);
      if (p?.revision !== placementRevision) throw fencedError(kind, key, this.nodeId);
    }
    throw new UnavailableError(`could not claim the snapshot of virtual actor ${kind}/${key}: it kept changing`);
  }


  /** Resolves once version `version` of `a` is saved; rejects when `a` ended before it was. */
  persisted(a: Activation, version: number): Promise<void> {
    if (a.saved >= version) return Promise.resolve();
    if (a.state === 'ended' && a.saving === undefined) return Promise.reject(a.endedBy ?? fencedError(a.kind, a.key, this.nodeId));
    return new Promise((resolve, reject) => {
      a.waiters.push({ version, resolve, reject });
      this.save(a);
    });
  }

  /** Writes the actor's snapshot, one revision-checked write in flight at a time, coalescing changes made meanwhile. */
  save(a: Activation): void {
    if (a.saving !== undefined || a.state === 'ended') return;
    a.saving = this.saveLoop(a)
      .catch((err: unknown) => this.deps.end(a, 'save-failed', toHiveError(err)))
      .finally(() => {
        a.saving = undefined;
        if (a.state === 'ended') this.rejectWaiters(a);
        else if (a.saved < a.version) this.save(a);
      });
  }

  private async saveLoop(a: Activation): Promise<void> {
    const codec = this.system.codec;
    while (a.saved < a.version && a.state !== 'ended') {
      const version = a.version;
      const actor = this.system.localActor(a.id);
      if (actor === undefined) {
        this.deps.end(a, 'actor-gone', new ActorStoppedError(`virtual actor ${a.kind}/${a.key} stopped on node "${this.nodeId}"`, { details: { kind: a.kind, key: a.key } }));
        return;
      }
      let revision: number | undefined;
      try {
        const state = codec.encode(actor.getPersistedSnapshot());
        revision = await this.deps.snapshots.update(a.pkey, encodeSnapshot(codec, { node: this.nodeId, placement: a.placementRevision, state }), a.snapshotRevision);
      } catch (err) {
        // refused (too large), or the store is unreachable (the outcome is unknown): the state in memory may be
        // ahead of the store, so this activation stops; the next message restores the actor from the store
        this.system.logger.error({ err, actor: a.id }, 'could not persist virtual actor snapshot');
        this.deps.end(a, 'save-failed', toHiveError(err));
        return;
      }
      if (revision === undefined) {
        this.deps.end(a, 'snapshot-moved', fencedError(a.kind, a.key, this.nodeId));
        return;
      }
      a.snapshotRevision = revision;
      a.saved = version;
      a.waiters = a.waiters.filter((w) => (w.version <= version ? (w.resolve(), false) : true));
    }
  }

  rejectWaiters(a: Activation): void {
    const err = a.endedBy ?? fencedError(a.kind, a.key, this.nodeId);
    for (const w of a.waiters) w.reject(err);
    a.waiters = [];
  }
}
