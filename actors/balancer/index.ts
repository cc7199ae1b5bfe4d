// The balancer: strategies behind one interface and the EWMA; the pool machine calls them from its actions.
export { strategyNames, type AgentInit, type AgentPatch, type AgentState, type Strategy, type StrategyName } from './Strategy.js';
export { BaseStrategy, AgentRecord, type BaseStrategyOptions } from './BaseStrategy.js';
export { RoundRobin } from './RoundRobin.js';
export { Weighted } from './Weighted.js';
export { LeastLoaded } from './LeastLoaded.js';
export { PowerOfTwo } from './PowerOfTwo.js';
export { ConsistentHash, DEFAULT_VNODES, type ConsistentHashOptions } from './ConsistentHash.js';
export { createStrategy, isStrategyName, validateStrategyOptions, type StrategyOptions } from './createStrategy.js';
export { hash32, fmix32 } from './hash32.js';
export { Ewma, ewmaStep, DEFAULT_EWMA_ALPHA, type EwmaOptions } from './Ewma.js';
