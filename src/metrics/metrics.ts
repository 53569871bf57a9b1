/**
 * Metric definitions (DESIGN.md "Metrics"). One registry per gateway, never prom-client's global
 * one, so two gateways in one process (tests) never share counters.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'decision' | 'reason' | 'status'>;
  readonly requestDuration: Histogram<'route'>;
  readonly upstreamDuration: Histogram<'target'>;
  readonly jwksRefresh: Counter<'issuer' | 'result'>;
  readonly executions: Counter<'target' | 'result'>;
  readonly auditRecords: Counter<'sink' | 'result'>;
  readonly configReloads: Counter<'result'>;
  /** WebSockets relayed right now, by route. */
  readonly websocketsOpen: Gauge<'route'>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'stepgate_requests_total',
      help: 'Requests by route, decision, reason and status',
      labelNames: ['route', 'decision', 'reason', 'status'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'stepgate_request_duration_seconds',
      help: 'Time from request received to response sent',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'stepgate_upstream_duration_seconds',
      help: 'Time from forwarding to the upstream response headers',
      labelNames: ['target'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    jwksRefresh: new Counter({
      name: 'stepgate_jwks_refresh_total',
      help: 'JWKS fetches by issuer and result',
      labelNames: ['issuer', 'result'],
      registers,
    }),
    executions: new Counter({
      name: 'stepgate_executions_total',
      help: 'Step Functions executions and Argo workflows started, by target and result',
      labelNames: ['target', 'result'],
      registers,
    }),
    auditRecords: new Counter({
      name: 'stepgate_audit_records_total',
      help: 'Audit records written, by sink and result',
      labelNames: ['sink', 'result'],
      registers,
    }),
    configReloads: new Counter({
      name: 'stepgate_config_reloads_total',
      help: 'Config reloads by result',
      labelNames: ['result'],
      registers,
    }),
    websocketsOpen: new Gauge({
      name: 'stepgate_websockets_open',
      help: 'WebSocket connections relayed right now, by route',
      labelNames: ['route'],
      registers,
    }),
  };
}
