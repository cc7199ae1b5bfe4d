// The one hint for a JetStream stream or KV bucket that cannot be created with the node's `jsReplicas`
// (--replicas, HIVE_JS_REPLICAS): a replica count above 1 needs a JetStream cluster of at least that many servers.

/** The reason a stream/bucket creation failed, with what to change when the replica count is the likely cause. */
export function replicasHint(err: unknown, replicas: number): string {
  const reason = err instanceof Error ? err.message : String(err);
  if (replicas <= 1) return reason;
  return `${reason} (option jsReplicas = ${replicas} (--replicas, HIVE_JS_REPLICAS): needs a JetStream cluster of at least ${replicas} servers; use 1 on a single nats-server)`;
}
