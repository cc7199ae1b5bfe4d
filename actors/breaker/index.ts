// The circuit breaker: the xstate machine (the transition rules), the CircuitBreaker class callers use,
// its options, sliding windows and metrics.
export {
  breakerMachine,
  breakerStateOf,
  circuitOpenError,
  coolDownElapsed,
  createBreakerContext,
  grownCoolDown,
  isCurrentCall,
  probeAt,
  recordFailure,
  recordSuccess,
  tripReason,
  type BreakerContext,
  type BreakerEvent,
  type BreakerMachineInput,
  type BreakerReason,
  type BreakerState,
  type ProbeTimeoutEvent,
} from './breakerMachine.js';
export { CircuitBreaker, type BreakerListener, type BreakerStateChange, type CallOptions, type CircuitBreakerDeps } from './CircuitBreaker.js';
export { defaultBreakerOptions, resolveBreakerOptions, createWindow, type BreakerOptions, type ResolvedBreakerOptions, type WindowOptions } from './breakerOptions.js';
export { CountWindow, TimeWindow, type SlidingWindow } from './SlidingWindow.js';
export { breakerStateCode, registerBreakerMetrics, type BreakerCounts, type MeteredBreaker } from './breakerMetrics.js';
