import type { FastifyReply } from 'fastify';
import type { EventSource } from '../engine/interactions.js';
import { ApiError } from '../protocol/errors.js';
import type { StoredEvent } from '../store/types.js';

const EVENT_TYPE = /^\{"event_type":"([a-z._]+)"/;

/** One SSE message; `data` is the stored JSON text (single line), so replays are byte-identical. */
export function formatSseMessage(event: StoredEvent): string {
  const type = EVENT_TYPE.exec(event.data)?.[1] ?? 'message';
  return `id: ${event.seq}\nevent: ${type}\ndata: ${event.data}\n\n`;
}

export const SSE_DONE = 'event: done\ndata: [DONE]\n\n';

/**
 * A transport-level error: the stream stops here although the interaction has not finished
 * (its events could not be stored, or the store could not be read). It is not a stored event,
 * so it has no `id:`, and no `[DONE]` follows: the client may resume later with last_event_id.
 */
export function formatSseError(err: unknown): string {
  const error = ApiError.isInstance(err)
    ? { code: err.code, message: err.message }
    : { code: 'internal_error', message: 'the event stream failed' };
  return `event: error\ndata: ${JSON.stringify({ event_type: 'error', error })}\n\n`;
}

/**
 * Writes an event source as an SSE response (spec §5.1): headers first, each event as it comes,
 * a keep-alive comment while idle, `[DONE]` at the end, or a transport-level `error` when the
 * source throws; always ends the response in `finally`.
 * `onDisconnect` runs when the client goes away before the end.
 */
export async function writeSse(
  reply: FastifyReply,
  source: EventSource,
  options: { keepAliveMs?: number; onDisconnect?: () => void } = {},
): Promise<void> {
  const raw = reply.raw;
  reply.hijack();
  const headers: Record<string, string | number | string[]> = {};
  for (const [k, v] of Object.entries(reply.getHeaders()))
    if (v !== undefined) headers[k] = v as string;
  raw.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  raw.flushHeaders();
  let finished = false;
  const onClose = () => {
    if (finished) return;
    finished = true;
    source.close();
    options.onDisconnect?.();
  };
  raw.on('close', onClose);
  const keepAlive = setInterval(() => {
    if (!raw.writableEnded) raw.write(': keepalive\n\n');
  }, options.keepAliveMs ?? 15_000);
  keepAlive.unref();
  try {
    let corked = false;
    const uncork = () => {
      corked = false;
      raw.uncork();
    };
    for await (const event of source) {
      if (raw.destroyed) break;
      // Events made durable together leave in one write (one syscall per batch, not per token).
      if (!corked) {
        corked = true;
        raw.cork();
        setImmediate(uncork);
      }
      raw.write(formatSseMessage(event));
    }
    if (!raw.destroyed) raw.write(SSE_DONE);
  } catch (err) {
    if (!ApiError.isInstance(err)) reply.log.error({ err }, 'event stream failed');
    if (!raw.destroyed) raw.write(formatSseError(err));
  } finally {
    finished = true;
    clearInterval(keepAlive);
    raw.off('close', onClose);
    source.close();
    raw.end();
  }
}
