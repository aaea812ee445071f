// Imported first by a spec that resolves names through its own DNS server: grpc-js reads
// GRPC_NODE_USE_ALTERNATIVE_RESOLVER once, when it loads, and only its alternative resolver sends
// a `dns://host:port/name` target's queries to that host. The spec restores the variable right after
// its imports (restoreResolverEnv), so no other spec of the same Jest worker sees it.
const previous = process.env.GRPC_NODE_USE_ALTERNATIVE_RESOLVER;
process.env.GRPC_NODE_USE_ALTERNATIVE_RESOLVER = 'true';

export function restoreResolverEnv(): void {
  if (previous === undefined) delete process.env.GRPC_NODE_USE_ALTERNATIVE_RESOLVER;
  else process.env.GRPC_NODE_USE_ALTERNATIVE_RESOLVER = previous;
}
