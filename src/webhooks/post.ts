import { request } from 'undici';
import { bareHost, checkUrl, type AddressPolicy } from '../net/address-policy.js';
import { pinnedAgent } from '../net/pinned-agent.js';

/**
 * One webhook delivery: a POST to a URL chosen by a tenant, under the outbound address policy
 * (the one url_context uses). The host is resolved and checked here and the connection goes to
 * the checked addresses only (no second DNS answer, so no rebinding), as safe-fetch does for
 * GETs; redirects are not followed (a 3xx is a failed delivery), the response body is drained
 * and ignored. Throws UnsafeUrlError for a refused address, or an Error for a network fault.
 */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: AddressPolicy & { timeoutMs: number },
): Promise<{ status: number }> {
  const target = new URL(url);
  const addresses = await checkUrl(target, options);
  const dispatcher = pinnedAgent(new Map([[bareHost(target.hostname).toLowerCase(), addresses]]), {
    connections: 1,
  });
  try {
    const response = await request(target, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'OpenInteractions-Webhooks/0.1',
        ...headers,
      },
      dispatcher,
      signal: AbortSignal.timeout(options.timeoutMs),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    // The body says nothing we use; it is drained so the connection can close cleanly.
    await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
    return { status: response.statusCode };
  } finally {
    await dispatcher.close().catch(() => {});
  }
}
