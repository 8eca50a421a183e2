import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/** What one streamed response looked like, in milliseconds from sending the request. */
export interface StreamTiming {
  /** Status line and headers parsed: the first byte of any kind. */
  firstByteMs: number;
  /** The first text token (upstream: a chunk with non-empty `content`; server: a text `step.delta`). */
  firstTextMs: number;
  /** The whole stream read. */
  endMs: number;
}

export interface StreamTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** True when one SSE message (the `event:`/`data:` block, without the blank line) carries text. */
  isText(message: string): boolean;
  /** Checks the complete body; returns an error description or null. */
  verify(body: string): string | null;
}

export interface StreamRun {
  timings: StreamTiming[];
  failures: Map<string, number>;
  seconds: number;
}

function once(target: StreamTarget, agent: Agent): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstByteMs = NaN;
    let firstTextMs = NaN;
    const req = request(
      target.url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', ...target.headers } },
      (res) => {
        firstByteMs = performance.now() - t0;
        res.setEncoding('utf8');
        let body = '';
        let scanned = 0;
        res.on('data', (chunk: string) => {
          body += chunk;
          if (!Number.isNaN(firstTextMs)) return;
          // Scan complete SSE messages for the first text token.
          for (;;) {
            const end = body.indexOf('\n\n', scanned);
            if (end < 0) break;
            const message = body.slice(scanned, end);
            scanned = end + 2;
            if (target.isText(message)) {
              firstTextMs = performance.now() - t0;
              break;
            }
          }
        });
        res.on('end', () => {
          const endMs = performance.now() - t0;
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
          const problem = target.verify(body);
          if (problem) return reject(new Error(problem));
          if (Number.isNaN(firstTextMs)) return reject(new Error('no text token in the stream'));
          resolve({ firstByteMs, firstTextMs, endMs });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(target.body);
  });
}

/** `connections` clients, each sending one streaming request after the other for `seconds`. */
export async function runStreams(
  target: StreamTarget,
  connections: number,
  seconds: number,
): Promise<StreamRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const timings: StreamTiming[] = [];
  const failures = new Map<string, number>();
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const client = async () => {
    while (performance.now() < deadline) {
      try {
        timings.push(await once(target, agent));
      } catch (err) {
        const key = (err as Error).message;
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  return { timings, failures, seconds: elapsed };
}
