/**
 * The server's Prometheus metrics (`GET /metrics`), defined in one place.
 *
 * One registry per process: a deployment runs one server per process, and code deep in the
 * engine, the store and the model backends counts through the small functions below instead of
 * carrying a metrics object through every constructor. Tests that start several servers in one
 * process read deltas of labelled series, which stay correct with a shared registry.
 *
 * Labels are bounded: `model` is the configured entry (never the name a client made up to match
 * a glob), `project` comes from the configured keys, `route` is the route pattern.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'oi_' });

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200];

/**
 * A metric's labelled children, kept per label values: prom-client validates and hashes the
 * label object (sorting its keys) on every `inc`/`observe`, which the per-request paths would
 * pay several times over. The label sets are bounded (see above), and so is this map.
 */
function children<T>(make: (...values: string[]) => T): (...values: string[]) => T {
  const made = new Map<string, T>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = made.get(key);
    if (child === undefined) {
      child = make(...values);
      made.set(key, child);
    }
    return child;
  };
}

const httpRequests = new Counter({
  name: 'oi_http_requests_total',
  help: 'HTTP requests answered, by method, route pattern and status code',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

const interactions = new Counter({
  name: 'oi_interactions_total',
  help: 'Interactions that reached a terminal status, by configured model (or agent) and status',
  labelNames: ['model', 'status'] as const,
  registers: [registry],
});

const firstEvent = new Histogram({
  name: 'oi_interaction_first_step_seconds',
  help: 'Time from the start of a run to its first output step (step.start)',
  labelNames: ['model'] as const,
  buckets: RUN_BUCKETS,
  registers: [registry],
});

const runDuration = new Histogram({
  name: 'oi_interaction_duration_seconds',
  help: 'Time from the start of a run to its terminal status',
  labelNames: ['model', 'status'] as const,
  buckets: RUN_BUCKETS,
  registers: [registry],
});

const tokens = new Counter({
  name: 'oi_tokens_total',
  help: 'Tokens of finished runs, by configured model, project and type (input, output, thought, cached)',
  labelNames: ['model', 'project', 'type'] as const,
  registers: [registry],
});

const toolCalls = new Counter({
  name: 'oi_tool_calls_total',
  help: 'Built-in tool calls run by the server, by tool and outcome (ok, error, failed)',
  labelNames: ['tool', 'outcome'] as const,
  registers: [registry],
});

const flushLatency = new Histogram({
  name: 'oi_event_log_flush_seconds',
  help: 'Time to make one batch of events durable in the store (retries included)',
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

const storeErrors = new Counter({
  name: 'oi_store_errors_total',
  help: 'Failed store operations, by operation and fault (unavailable, duplicate, missing_interaction, rejected)',
  labelNames: ['operation', 'fault'] as const,
  registers: [registry],
});

const limitRejections = new Counter({
  name: 'oi_limit_rejections_total',
  help: 'Requests refused with 429 by a limit, by kind of limit',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** What a local model reports of its capacity (llama-cpp worker stats). */
export interface LocalModelLoad {
  sequencesInUse: number;
  queued: number;
}

const localModels = new Map<string, () => LocalModelLoad>();

new Gauge({
  name: 'oi_local_model_active_sequences',
  help: 'Sequences of a local model decoding right now',
  labelNames: ['model'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [model, load] of localModels) this.set({ model }, load().sequencesInUse);
  },
});

new Gauge({
  name: 'oi_local_model_queue_depth',
  help: 'Requests waiting for a sequence of a local model',
  labelNames: ['model'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [model, load] of localModels) this.set({ model }, load().queued);
  },
});

const httpRequestsOf = children((method, route, status) =>
  httpRequests.labels(method!, route!, status!),
);
const interactionsOf = children((model, status) => interactions.labels(model!, status!));
const runDurationOf = children((model, status) => runDuration.labels(model!, status!));
const tokensOf = children((model, project, type) => tokens.labels(model!, project!, type!));
const firstEventOf = children((model) => firstEvent.labels(model!));

export function countHttpRequest(method: string, route: string, status: number): void {
  httpRequestsOf(method, route, String(status)).inc();
}

/** A run ended: its status, duration and token usage. */
export function countInteraction(run: {
  model: string;
  project: string;
  status: string;
  seconds: number;
  usage?: { input: number; output: number; thought: number; cached: number };
}): void {
  interactionsOf(run.model, run.status).inc();
  runDurationOf(run.model, run.status).observe(run.seconds);
  if (!run.usage) return;
  for (const [type, count] of Object.entries(run.usage)) {
    if (count > 0) tokensOf(run.model, run.project, type).inc(count);
  }
}

export function observeFirstStep(model: string, seconds: number): void {
  firstEventOf(model).observe(seconds);
}

export function countToolCall(tool: string, outcome: 'ok' | 'error' | 'failed'): void {
  toolCalls.inc({ tool, outcome });
}

export function observeEventLogFlush(seconds: number): void {
  flushLatency.observe(seconds);
}

export function countStoreError(operation: string, fault: string): void {
  storeErrors.inc({ operation, fault });
}

/** A request refused with 429 by a limit (`rpm`, `tpm`, `concurrent_runs`, `stored_bytes`, …). */
export function countLimitRejection(kind: string): void {
  limitRejections.inc({ kind });
}

/** Reports a local model's load under its configured name; returns the unregister function. */
export function registerLocalModel(model: string, load: () => LocalModelLoad): () => void {
  localModels.set(model, load);
  return () => {
    if (localModels.get(model) === load) localModels.delete(model);
  };
}

/** The exposition text and its content type. */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
