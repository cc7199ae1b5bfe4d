import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerStateChange } from '../../../../actors/breaker/CircuitBreaker.js';
import type { BreakerOptions } from '../../../../actors/breaker/breakerOptions.js';
import { CircuitOpenError, HiveError, InvalidArgumentError } from '../../../../protocols/errors.js';
import { SimulatedClock, type Clock } from '../../../../runtime/Clock.js';
import { MetricsRegistry } from '../../../../runtime/metrics.js';

const breakers: CircuitBreaker[] = [];
afterEach(() => {
  for (const b of breakers.splice(0)) b.dispose();
});

function make(options: BreakerOptions = {}, clock: Clock = new SimulatedClock(1_000_000)): CircuitBreaker {
  const b = new CircuitBreaker('dep', { consecutiveFailures: 3, coolDownMs: 1000, probesToClose: 2, probeTimeoutMs: 500, ...options }, { clock });
  breakers.push(b);
  return b;
}

const ok = <T>(v: T) => (): Promise<T> => Promise.resolve(v);
const boom = (): Promise<never> => Promise.reject(new Error('down'));

async function settle(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return err;
  }
}

async function failTimes(b: CircuitBreaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await settle(b.call(boom));
}

describe('CircuitBreaker', () => {
  it('passes values and errors through while closed', async () => {
    const b = make();
    expect(await b.call(ok(7))).toBe(7);
    const err = await settle(b.call(boom));
    expect((err as Error).message).toBe('down');
    expect(b.state).toBe('closed');
    expect(b.counts).toEqual({ success: 1, failure: 1, rejected: 0 });
  });

  it('opens after N consecutive failures (a success resets the streak)', async () => {
    const b = make();
    await failTimes(b, 2);
    await b.call(ok(1));
    await failTimes(b, 2);
    expect(b.state).toBe('closed');
    await failTimes(b, 1);
    expect(b.state).toBe('open');
    expect(b.reason).toBe('consecutive-failures');
  });

  it('opens on the failure rate over the window, only once the window holds enough calls', async () => {
    const b = make({ consecutiveFailures: Infinity, window: { kind: 'count', size: 10 }, minimumCalls: 10, failureRateThreshold: 0.5 });
    // Alternate: 50% failures but never two in a row.
    for (let i = 0; i < 9; i++) await settle(b.call(i % 2 === 0 ? boom : ok(1)));
    expect(b.state).toBe('closed'); // 9 calls < minimumCalls
    await settle(b.call(ok(1)));
    expect(b.state).toBe('closed'); // 10 calls, 5 failures: the rule is checked after failures only
    await settle(b.call(boom)); // the window's 10 calls now hold 5 failures again (the first one left)
    expect(b.state).toBe('open');
    expect(b.reason).toBe('failure-rate');
  });

  it('forgets failures that left a time window', async () => {
    const clock = new SimulatedClock(0);
    const b = make({ consecutiveFailures: Infinity, window: { kind: 'time', ms: 1000, buckets: 10 }, minimumCalls: 4, failureRateThreshold: 0.75 }, clock);
    await failTimes(b, 3);
    clock.advance(1000);
    await failTimes(b, 1);
    await settle(b.call(ok(1)));
    await settle(b.call(ok(1)));
    expect(b.state).toBe('closed');
    await failTimes(b, 2);
    expect(b.state).toBe('closed'); // 3 failures of 5
    await failTimes(b, 3);
    expect(b.state).toBe('open');
  });

  it('fails fast while open with CIRCUIT_OPEN naming the breaker and the next probe, without calling', async () => {
    const b = make();
    await failTimes(b, 3);
    let called = 0;
    const err = await settle(
      b.call(async () => {
        called++;
        return 1;
      }),
    );
    expect(called).toBe(0);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as HiveError).code).toBe('CIRCUIT_OPEN');
    expect((err as HiveError).retryable).toBe(true);
    expect((err as Error).message).toContain('"dep"');
    expect((err as Error).message).toContain('next probe in 1000 ms');
    expect((err as HiveError).details).toMatchObject({ breaker: 'dep', state: 'open', retryAt: 1_001_000 });
    expect(b.retryAt).toBe(1_001_000);
    expect(b.counts.rejected).toBe(1);
  });

  it('half-opens after the cool-down, lets one probe at a time, closes after N successful probes', async () => {
    const clock = new SimulatedClock(1_000_000);
    const b = make({}, clock);
    await failTimes(b, 3);
    clock.advance(999);
    expect(b.state).toBe('open');
    clock.advance(1);
    expect(b.state).toBe('half-open');
    let release!: (v: number) => void;
    const probe = b.call(() => new Promise<number>((r) => (release = r)));
    const other = await settle(b.call(ok(2)));
    expect(other).toBeInstanceOf(CircuitOpenError);
    expect((other as HiveError).details?.['state']).toBe('half-open');
    release(1);
    expect(await probe).toBe(1);
    expect(b.state).toBe('half-open'); // 1 of 2 probes
    expect(await b.call(ok(3))).toBe(3);
    expect(b.state).toBe('closed');
    expect(b.reason).toBe('probes-succeeded');
  });

  it('reopens on a failed probe, the cool-down growing up to its cap', async () => {
    const clock = new SimulatedClock(0);
    const b = make({ coolDownMs: 1000, coolDownMultiplier: 3, maxCoolDownMs: 5000 }, clock);
    await failTimes(b, 3);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const openedAt = clock.now();
      const retryAt = b.retryAt!;
      waits.push(retryAt - openedAt);
      clock.advance(retryAt - openedAt);
      expect(b.state).toBe('half-open');
      await settle(b.call(boom));
      expect(b.state).toBe('open');
      expect(b.reason).toBe('probe-failed');
    }
    expect(waits).toEqual([1000, 3000, 5000, 5000]);
    // Closing resets the cool-down.
    clock.advance(5000);
    await b.call(ok(1));
    await b.call(ok(1));
    expect(b.state).toBe('closed');
    await failTimes(b, 3);
    expect(b.retryAt! - clock.now()).toBe(1000);
  });

  describe('never stuck half-open', () => {
    async function halfOpen(clock: SimulatedClock, options: BreakerOptions = {}): Promise<CircuitBreaker> {
      const b = make(options, clock);
      await failTimes(b, 3);
      clock.advance(1000);
      expect(b.state).toBe('half-open');
      return b;
    }

    it('a probe whose function throws synchronously is a failed probe', async () => {
      const clock = new SimulatedClock(0);
      const b = await halfOpen(clock);
      const err = await settle(
        b.call(() => {
          throw new Error('sync');
        }),
      );
      expect((err as Error).message).toBe('sync');
      expect(b.state).toBe('open');
      clock.advance(2000);
      expect(await b.call(ok(1))).toBe(1); // the next probe goes through
    });

    it('a probe that never settles is released by the probe timeout: aborted, TIMEOUT, breaker reopens', async () => {
      const clock = new SimulatedClock(0);
      const b = await halfOpen(clock);
      let signal!: AbortSignal;
      const stuck = b.call((s) => {
        signal = s;
        return new Promise<number>(() => undefined);
      });
      clock.advance(499);
      expect(b.state).toBe('half-open');
      expect(signal.aborted).toBe(false);
      clock.advance(1);
      const err = await settle(stuck);
      expect((err as HiveError).code).toBe('TIMEOUT');
      expect(signal.aborted).toBe(true);
      expect(b.state).toBe('open');
      expect(b.reason).toBe('probe-timeout');
      clock.advance(2000);
      expect(b.state).toBe('half-open');
      expect(await b.call(ok(5))).toBe(5);
    });

    it('a probe cancelled by its caller releases the probe slot at once (not counted as a failure)', async () => {
      const clock = new SimulatedClock(0);
      const b = await halfOpen(clock);
      const controller = new AbortController();
      let inner!: AbortSignal;
      const cancelled = b.call(
        (s) => {
          inner = s;
          return new Promise<number>(() => undefined);
        },
        { signal: controller.signal },
      );
      expect(await settle(b.call(ok(1)))).toBeInstanceOf(CircuitOpenError);
      controller.abort(new Error('caller gave up'));
      expect(((await settle(cancelled)) as Error).message).toBe('caller gave up');
      expect(inner.aborted).toBe(true);
      expect(b.state).toBe('half-open');
      expect(b.counts.failure).toBe(3);
      expect(await b.call(ok(2))).toBe(2); // a new probe is admitted right away
    });

    it('a caller signal already aborted is refused before it can take the probe', async () => {
      const clock = new SimulatedClock(0);
      const b = await halfOpen(clock);
      const err = await settle(b.call(ok(1), { signal: AbortSignal.abort(new Error('already')) }));
      expect((err as Error).message).toBe('already');
      expect(await b.call(ok(2))).toBe(2);
    });

    it('callers racing when the cool-down ends: exactly one probe runs, the rest fail fast', async () => {
      const clock = new SimulatedClock(0);
      const b = make({}, clock);
      await failTimes(b, 3);
      clock.advance(1000);
      let runs = 0;
      let release!: () => void;
      const fn = (): Promise<number> => {
        runs++;
        return new Promise<number>((r) => (release = () => r(1)));
      };
      const results = Array.from({ length: 20 }, () => settle(b.call(fn)));
      expect(runs).toBe(1);
      release();
      const settled = await Promise.all(results);
      expect(settled.filter((r) => r === 1)).toHaveLength(1);
      expect(settled.filter((r) => r instanceof CircuitOpenError)).toHaveLength(19);
    });

    it('racing callers when the clock passed the cool-down before its timer fired: still one probe', async () => {
      // A clock whose time moves without firing timers (the event loop was busy).
      let now = 0;
      const timers: Array<() => void> = [];
      const clock: Clock = {
        now: () => now,
        setTimeout: (fn) => {
          timers.push(fn);
          return { __timer: true };
        },
        clearTimeout: () => undefined,
      };
      const b = make({}, clock);
      await failTimes(b, 3);
      expect(b.state).toBe('open');
      now = 1500;
      let runs = 0;
      const fn = (): Promise<number> => {
        runs++;
        return new Promise<number>(() => undefined);
      };
      const results = Array.from({ length: 10 }, () => settle(b.call(fn)));
      expect(runs).toBe(1);
      expect(b.state).toBe('half-open');
      const refused = (await Promise.all(results.slice(1))).filter((r) => r instanceof CircuitOpenError);
      expect(refused).toHaveLength(9);
    });
  });

  it('ignores the late outcome of a call admitted before the breaker changed state', async () => {
    const clock = new SimulatedClock(0);
    const b = make({}, clock);
    let finishSlow!: () => void;
    const slow = b.call(() => new Promise<number>((_, reject) => (finishSlow = () => reject(new Error('late')))));
    await failTimes(b, 3);
    clock.advance(1000);
    await b.call(ok(1));
    await b.call(ok(1));
    expect(b.state).toBe('closed');
    await failTimes(b, 2);
    finishSlow(); // would be the third consecutive failure if it counted
    await settle(slow);
    expect(b.state).toBe('closed');
  });

  it('does not count errors isFailure excludes (caller mistakes)', async () => {
    const b = make({ isFailure: (err) => !(err instanceof HiveError && err.code === 'INVALID_ARGUMENT') });
    for (let i = 0; i < 10; i++) {
      const err = await settle(b.call(() => Promise.reject(new InvalidArgumentError('bad query'))));
      expect(err).toBeInstanceOf(InvalidArgumentError);
    }
    expect(b.state).toBe('closed');
    expect(b.counts).toEqual({ success: 10, failure: 0, rejected: 0 });
    const throwing = make({
      isFailure: () => {
        throw new Error('oops');
      },
    });
    await failTimes(throwing, 3);
    expect(throwing.state).toBe('open');
  });

  it('times out calls with callTimeoutMs: aborted, TIMEOUT, counted as failures', async () => {
    const clock = new SimulatedClock(0);
    const b = make({ callTimeoutMs: 100 }, clock);
    const signals: AbortSignal[] = [];
    const calls = Array.from({ length: 3 }, () =>
      settle(
        b.call((s) => {
          signals.push(s);
          return new Promise<number>(() => undefined);
        }),
      ),
    );
    clock.advance(100);
    for (const r of await Promise.all(calls)) expect((r as HiveError).code).toBe('TIMEOUT');
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(b.state).toBe('open');
    // A per-call timeout overrides the default.
    const c = make({}, clock);
    const timed = settle(c.call(() => new Promise<number>(() => undefined), { timeoutMs: 10 }));
    clock.advance(10);
    expect(((await timed) as HiveError).code).toBe('TIMEOUT');
  });

  it('publishes every state change with its reason', async () => {
    const clock = new SimulatedClock(0);
    const b = make({ probesToClose: 1 }, clock);
    const changes: BreakerStateChange[] = [];
    const off = b.onStateChange((c) => changes.push(c));
    b.onStateChange(() => {
      throw new Error('bad listener');
    });
    await failTimes(b, 3);
    clock.advance(1000);
    await settle(b.call(boom));
    clock.advance(2000);
    await b.call(ok(1));
    expect(changes.map((c) => `${c.from}>${c.to}:${c.reason}`)).toEqual([
      'closed>open:consecutive-failures',
      'open>half-open:cool-down-elapsed',
      'half-open>open:probe-failed',
      'open>half-open:cool-down-elapsed',
      'half-open>closed:probes-succeeded',
    ]);
    expect(changes[0]).toMatchObject({ breaker: 'dep', at: 0, retryAt: 1000 });
    expect(changes[2]?.retryAt).toBe(1000 + 2000);
    off();
    b.trip();
    expect(b.state).toBe('open');
    expect(b.reason).toBe('forced-open');
    expect(changes).toHaveLength(5);
    b.reset();
    expect(b.state).toBe('closed');
  });

  it('lets a listener call through the breaker (the call is deferred, not lost)', async () => {
    const clock = new SimulatedClock(0);
    const b = make({ probesToClose: 1 }, clock);
    const probed: unknown[] = [];
    b.onStateChange((c) => {
      if (c.to === 'half-open') probed.push(b.call(ok('probe from listener')));
    });
    await failTimes(b, 3);
    clock.advance(1000);
    expect(await probed[0]).toBe('probe from listener');
    expect(b.state).toBe('closed');
  });

  it('exports its state and call counts as metrics', async () => {
    const metrics = new MetricsRegistry({ cluster: 'unit', node: 'n1' }, { processMetrics: false });
    const clock = new SimulatedClock(0);
    const b = new CircuitBreaker('postgres', { consecutiveFailures: 2 }, { clock, metrics });
    breakers.push(b);
    await b.call(ok(1));
    await failTimes(b, 2);
    await settle(b.call(ok(1)));
    const text = await metrics.text();
    expect(text).toContain('hive_breaker_state{breaker="postgres",cluster="unit",node="n1"} 1');
    expect(text).toContain('hive_breaker_calls_total{breaker="postgres",result="success",cluster="unit",node="n1"} 1');
    expect(text).toContain('hive_breaker_calls_total{breaker="postgres",result="failure",cluster="unit",node="n1"} 2');
    expect(text).toContain('hive_breaker_calls_total{breaker="postgres",result="rejected",cluster="unit",node="n1"} 1');
    // A second scrape does not double count.
    expect(await metrics.text()).toContain('result="failure",cluster="unit",node="n1"} 2');
  });
});
