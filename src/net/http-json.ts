/**
 * JSON calls to operator-configured services (search backends, Nominatim, Overpass). Their
 * endpoints come from the server's config, not from a model or a user, so this is plain `fetch`
 * (a local SearXNG on 127.0.0.1 is normal) with a deadline and readable errors.
 */

/** A service answered with an HTTP error, no JSON, or not at all. */
export class ServiceError extends Error {
  /** The HTTP status, when the service answered. */
  readonly status?: number;

  constructor(message: string, status?: number) {
    super(message);
    this.name = 'ServiceError';
    this.status = status;
  }
}

/**
 * Sends one request and parses the JSON answer. Failures become `ServiceError` with `service`
 * in the message; when `signal` aborts, its reason is thrown instead. The URL is never put in a
 * message (it may carry an API key).
 */
export async function requestJson(
  service: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<unknown> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const late = () => new ServiceError(`${service} did not answer within ${timeoutMs} ms`);
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.any([signal, deadline]) });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (deadline.aborted) throw late();
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new ServiceError(
      `${service} could not be reached: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (deadline.aborted) throw late();
    throw new ServiceError(`${service}: reading the response failed: ${(error as Error).message}`);
  }
  if (!res.ok) {
    throw new ServiceError(
      `${service} answered HTTP ${res.status}${errorDetail(text)}`,
      res.status,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ServiceError(`${service} answered with something that is not JSON`, res.status);
  }
}

/** A short reason from an error body: `{error:{message}}`, `{error}`, `{detail}`, `{message}`, or text. */
export function errorDetail(body: string): string {
  let detail = '';
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const error = json.error as Record<string, unknown> | string | undefined;
    const candidates = [
      typeof error === 'object' && error !== null ? (error.message ?? error.detail) : error,
      json.detail,
      json.message,
      json.remark,
    ];
    detail =
      (candidates.find((c) => typeof c === 'string' && c.trim()) as string | undefined) ?? '';
  } catch {
    // Not JSON: an HTML or text error page.
    detail = body
      .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&nbsp;/g, ' ')
      .replace(/&amp;/g, '&')
      .replace(/\s+/g, ' ');
  }
  detail = detail.trim().slice(0, 200);
  return detail ? `: ${detail}` : '';
}
