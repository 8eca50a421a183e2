import { createRequire } from 'node:module';

/** The subset of autocannon's programmatic API the benchmarks use (the package ships no types). */
export interface AutocannonOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  /** Seconds. */
  duration?: number;
  /** Seconds before a request counts as a timeout. */
  timeout?: number;
  verifyBody?: (body: string) => boolean;
}

export interface AutocannonHistogram {
  average: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  total: number;
  p50: number;
  p99: number;
}

export interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  latency: AutocannonHistogram;
  requests: AutocannonHistogram & { sent: number };
}

export interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(
    event: 'response',
    listener: (
      client: unknown,
      statusCode: number,
      resBytes: number,
      responseTimeMs: number,
    ) => void,
  ): this;
  on(event: 'reqError', listener: (error: Error) => void): this;
  stop(): void;
}

type Autocannon = (options: AutocannonOptions) => AutocannonInstance;

const require = createRequire(import.meta.url);

export const autocannon = require('autocannon') as Autocannon;
