import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { renderMetrics } from '../../metrics/index.js';
import { ApiError } from '../../protocol/errors.js';

/** Compares digests, so neither the token's length nor its bytes leak through timing. */
function sameToken(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * `GET /metrics`: Prometheus text. Not behind the API keys (a scraper is not a project); with
 * `metrics.token` configured it needs `Authorization: Bearer <token>`.
 */
export async function metricsRoute(
  options: { token?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<string> {
  if (options.token !== undefined) {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !sameToken(match[1]!, options.token)) {
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      throw new ApiError(
        'unauthenticated',
        'authorization: /metrics needs the bearer token configured as metrics.token',
      );
    }
  }
  const { contentType, body } = await renderMetrics();
  void reply.type(contentType);
  return body;
}
