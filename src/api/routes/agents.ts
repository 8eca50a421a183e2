import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CustomAgents } from '../../agents/custom-agents.js';
import { invalid } from '../../protocol/errors.js';
import { AGENT_ID, AGENT_ID_RULE } from '../../protocol/agents.js';

type Query = Record<string, string | string[] | undefined>;

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalid(`${name}: given more than once`);
  return value;
}

function agentId(request: FastifyRequest): string {
  const id = (request.params as { id: string }).id;
  if (!AGENT_ID.test(id)) throw invalid(`id: '${id.slice(0, 80)}' ${AGENT_ID_RULE}`);
  return id;
}

/** §10.2 custom agents: create, list, get, delete (snake_case JSON). Mounted under /v1 and /v1beta. */
export function agentRoutes(app: FastifyInstance, opts: { agents: CustomAgents }): void {
  const { agents } = opts;

  app.post('/agents', async (request) => agents.create(request.project, request.body));

  app.get('/agents', async (request) => {
    const query = request.query as Query;
    const sizeText = single(query, 'page_size');
    if (sizeText !== undefined && !/^\d{1,9}$/.test(sizeText))
      throw invalid(`page_size: expected a non-negative integer, got '${sizeText.slice(0, 40)}'`);
    // `parent` (a Vertex resource path) has no meaning here: every list is the caller's project.
    return agents.list(
      request.project,
      sizeText === undefined ? undefined : Number(sizeText),
      single(query, 'page_token') || undefined,
    );
  });

  app.get('/agents/:id', async (request) => agents.get(request.project, agentId(request)));

  app.delete('/agents/:id', async (request) => {
    await agents.delete(request.project, agentId(request));
    return {};
  });
}
