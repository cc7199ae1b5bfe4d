// Cluster-wide rate limits, concurrency limits and budgets.
export { Limiter, LEASE_TTL_MS, PREFETCH_MS, SLOT_TTL_MS, type Permit, type TakeOptions } from './Limiter.js';
export { Budget, type BudgetStatus } from './Budget.js';
export { resolveLimiterOptions, resolveBudgetOptions, periodOf, type LimiterOptions, type BudgetOptions } from './limitOptions.js';
