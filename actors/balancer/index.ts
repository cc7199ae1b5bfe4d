// The balancer: strategies behind one interface, the agent-state cache, the EWMA helper and the actor form.
export { strategyNames, type AgentInit, type AgentPatch, type AgentState, type Strategy, type StrategyName } from './Strategy.js';
export { BaseStrategy, AgentRecord, type BaseStrategyOptions } from './BaseStrategy.js';
export { RoundRobin } from './RoundRobin.js';
export { Weighted } from './Weighted.js';
export { LeastLoaded } from './LeastLoaded.js';
export { PowerOfTwo } from './PowerOfTwo.js';
export { ConsistentHash, DEFAULT_VNODES, type ConsistentHashOptions } from './ConsistentHash.js';
export { createStrategy, isStrategyName, validateStrategyOptions, type StrategyOptions } from './createStrategy.js';
export { hash32, fmix32 } from './hash32.js';
export { AgentStateCache, type AgentReport, type AgentStateCacheOptions } from './AgentStateCache.js';
export { Ewma, type EwmaOptions } from './Ewma.js';
export { balancerMachine, type BalancerContext, type BalancerEvent, type BalancerInput, type PickedEvent } from './balancerMachine.js';
