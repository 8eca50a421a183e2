import { request, type Dispatcher } from 'undici';

/*
 * The `fetch` the AI SDK providers call for model upstreams, built on `undici.request`.
 *
 * Why not the global `fetch`: for a short completion, fetch's spec machinery (Request/Headers
 * objects, transferable streams, its body mixins and their per-stream error objects) costs the
 * server more CPU than everything else it does per interaction (bench/server-overhead.ts: a
 * fetch-based pass-through proxy costs several times a `undici.request` one). `undici.request` is
 * the same HTTP client without that layer; the answer is handed back as a standard `Response`
 * over one web stream fed from the socket, so the AI SDK stays the model interface unchanged.
 *
 * What it keeps of fetch's contract, because the AI SDK relies on it: network failures reject
 * with `TypeError('fetch failed', { cause })` (the SDK turns that into a retryable
 * `APICallError`), an aborted signal rejects with the signal's reason (an `AbortError`), and a
 * body read that fails errors the stream. What it leaves out, deliberately, for model upstreams
 * (configured by the operator, never chosen by a request): redirects, cookies, content decoding
 * (it sends no `accept-encoding`, so answers come unencoded) and `Request` objects (those, and
 * non-string bodies, go to the global fetch unchanged).
 */

type FetchInput = Parameters<typeof fetch>[0];
type FetchInit = NonNullable<Parameters<typeof fetch>[1]>;

function plainHeaders(headers: FetchInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  if (headers instanceof Headers || Array.isArray(headers)) {
    for (const [k, v] of headers instanceof Headers ? headers.entries() : headers)
      out[k.toLowerCase()] = v;
    return out;
  }
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

function responseHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) headers.append(k, item);
    else headers.append(k, v);
  }
  return headers;
}

/** The fetches made here, with their dispatcher: backends may call `undici.request` themselves. */
const madeHere = new WeakMap<typeof fetch, { dispatcher?: Dispatcher }>();

/**
 * The transport behind `fetch` when it is one of this module's upstream fetches (a backend may
 * then use `undici.request` with the same dispatcher directly); `undefined` for any other fetch
 * (an injected one, which the backend must call).
 */
export function upstreamTransport(
  fetchFn: typeof fetch | undefined,
): { dispatcher?: Dispatcher } | undefined {
  return fetchFn === undefined ? undefined : madeHere.get(fetchFn);
}

/** A `fetch` for model upstreams (see above); `dispatcher`: undici's global one by default. */
export function createUpstreamFetch(dispatcher?: Dispatcher): typeof fetch {
  const upstreamFetch = async (input: FetchInput, init: FetchInit = {}): Promise<Response> => {
    const body = init.body;
    if (
      !(typeof input === 'string' || input instanceof URL) ||
      (body !== undefined && body !== null && typeof body !== 'string')
    )
      return fetch(input, init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(input, {
        method: (init.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod,
        headers: plainHeaders(init.headers),
        body: body ?? undefined,
        signal,
        ...(dispatcher ? { dispatcher } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new TypeError('fetch failed', { cause: err });
    }
    const source = answer.body;
    const status = answer.statusCode;
    // 204/304 (and HEAD) have no body; a Response refuses one for them.
    const empty = status === 204 || status === 304 || init.method?.toUpperCase() === 'HEAD';
    if (empty) source.resume();
    // One web stream, fed chunk by chunk from undici's body with backpressure (pull).
    const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const stream = empty
      ? null
      : new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const { value, done } = await iterator.next();
              if (done) controller.close();
              else controller.enqueue(value);
            } catch (err) {
              controller.error(
                signal?.aborted ? signal.reason : new TypeError('terminated', { cause: err }),
              );
            }
          },
          cancel(reason) {
            source.destroy(reason instanceof Error ? reason : undefined);
          },
        });
    return new Response(stream, {
      status,
      statusText: answer.statusText ?? '',
      headers: responseHeaders(answer.headers),
    });
  };
  madeHere.set(upstreamFetch as typeof fetch, dispatcher ? { dispatcher } : {});
  return upstreamFetch as typeof fetch;
}
