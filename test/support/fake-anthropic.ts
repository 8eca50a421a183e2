import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/** What the scripted Anthropic server answers to one Messages request. */
export interface AnthropicReply {
  /** Thinking deltas: one `thinking` block, first, closed with a `signature_delta`. */
  thinking?: string[];
  /** The signature of the thinking block (default `sig-<request index>`). */
  signature?: string;
  /** Text deltas: one `text` block, after the thinking. */
  text?: string[];
  /** `tool_use` blocks after the text; `input` is streamed as `jsonChunks` when given. */
  toolCalls?: {
    name: string;
    input: Record<string, unknown>;
    id?: string;
    jsonChunks?: string[];
  }[];
  /** Default: `tool_use` when there are tool calls, else `end_turn`. */
  stopReason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';
  usage?: {
    input_tokens: number;
    output_tokens: number;
    /** Reported as `output_tokens_details.thinking_tokens` (part of `output_tokens`). */
    thinking_tokens?: number;
    cache_read_input_tokens?: number;
  };
  /** HTTP error status instead of a message (body: Anthropic's error JSON). */
  status?: number;
  /** The error `type` of an HTTP error (default from the status, e.g. `api_error`). */
  errorType?: string;
  /** An `event: error` (e.g. `overloaded_error`) after this many events instead of finishing. */
  streamErrorAfterEvents?: number;
  /** Milliseconds to wait between events. */
  delayMs?: number;
  /** Destroy the connection after this many events (mid-stream failure). */
  dieAfterEvents?: number;
  /** Hold the request open until `release()` is called (slow upstream). */
  hold?: boolean;
}

export type AnthropicScript = (body: AnthropicRequest, index: number) => AnthropicReply;

export interface AnthropicContentBlock {
  type: string;
  text?: string;
  thinking?: string;
  signature?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
  is_error?: boolean;
  [key: string]: unknown;
}

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: { role: 'user' | 'assistant'; content: string | AnthropicContentBlock[] }[];
  system?: string | { type: string; text: string }[];
  stream?: boolean;
  tools?: { name: string; description?: string; input_schema: unknown }[];
  tool_choice?: { type: string; name?: string };
  thinking?: { type: string; budget_tokens?: number };
  [key: string]: unknown;
}

export interface FakeAnthropic {
  /** The provider's base URL (`…/v1`). */
  url: string;
  requests: AnthropicRequest[];
  /** The request headers, in the order of `requests`. */
  headers: IncomingHttpHeaders[];
  script: AnthropicScript;
  release(): void;
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

function lastUserText(body: AnthropicRequest): string {
  const user = [...body.messages].reverse().find((m) => m.role === 'user');
  if (!user) return '';
  if (typeof user.content === 'string') return user.content;
  return user.content.map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');
}

/** Default: answers "echo: <last user text>" in two chunks. */
export const anthropicEchoScript: AnthropicScript = (body) => {
  const text = `echo: ${lastUserText(body)}`;
  const mid = Math.ceil(text.length / 2);
  return {
    text: [text.slice(0, mid), text.slice(mid)],
    usage: { input_tokens: 10 + body.messages.length, output_tokens: 5 },
  };
};

/** Splits a string into `n` roughly equal pieces (for `jsonChunks`). */
export function splitInto(text: string, n: number): string[] {
  const size = Math.ceil(text.length / n);
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

/**
 * The request checks of the real API that matter to a tool loop with extended thinking: the
 * budget is at least 1024 and below `max_tokens`, while thinking is enabled the assistant
 * message that made the pending tool calls must start with its (signed) thinking block, and a
 * replayed thinking block must carry exactly the text its signature was issued for (`signed`:
 * signature → thinking text of the replies sent so far).
 */
export function validateAnthropicRequest(
  body: AnthropicRequest,
  signed: ReadonlyMap<string, string> = new Map(),
): string | undefined {
  for (const [m, message] of body.messages.entries()) {
    if (typeof message.content === 'string') continue;
    for (const [b, block] of message.content.entries()) {
      const issued = block.signature === undefined ? undefined : signed.get(block.signature);
      if (block.type === 'thinking' && issued !== undefined && block.thinking !== issued) {
        return `messages.${m}.content.${b}: thinking blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response.`;
      }
    }
  }
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
    return 'max_tokens: Field required';
  }
  if (body.thinking?.type !== 'enabled') return undefined;
  const budget = body.thinking.budget_tokens ?? 0;
  if (budget < 1024)
    return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
  if (budget >= body.max_tokens)
    return '`max_tokens` must be greater than `thinking.budget_tokens`.';
  const lastAssistant = body.messages.map((m) => m.role).lastIndexOf('assistant');
  const message = body.messages[lastAssistant];
  if (!message || typeof message.content === 'string') return undefined;
  const pendingToolUse = message.content.some((b) => b.type === 'tool_use');
  const first = message.content[0]?.type;
  if (pendingToolUse && first !== 'thinking' && first !== 'redacted_thinking') {
    return (
      `messages.${lastAssistant}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, ` +
      `but found \`${first}\`. When \`thinking\` is enabled, a final \`assistant\` message must ` +
      'start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).'
    );
  }
  return undefined;
}

interface SseEvent {
  type: string;
  [key: string]: unknown;
}

/** The events (streaming) and the message (non-streaming) of one scripted reply. */
function buildMessage(body: AnthropicRequest, reply: AnthropicReply, index: number) {
  const id = `msg_fake_${index}`;
  const usage = reply.usage ?? { input_tokens: 7, output_tokens: 3 };
  const stopReason = reply.stopReason ?? (reply.toolCalls?.length ? 'tool_use' : 'end_turn');
  const finalUsage = {
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
    ...(usage.thinking_tokens !== undefined
      ? { output_tokens_details: { thinking_tokens: usage.thinking_tokens } }
      : {}),
  };
  const content: AnthropicContentBlock[] = [];
  const events: SseEvent[] = [
    {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: 1,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
        },
      },
    },
  ];
  let blockIndex = 0;
  if (reply.thinking) {
    const signature = reply.signature ?? `sig-${index}`;
    const i = blockIndex++;
    events.push({
      type: 'content_block_start',
      index: i,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    });
    for (const t of reply.thinking) {
      events.push({
        type: 'content_block_delta',
        index: i,
        delta: { type: 'thinking_delta', thinking: t },
      });
    }
    events.push({
      type: 'content_block_delta',
      index: i,
      delta: { type: 'signature_delta', signature },
    });
    events.push({ type: 'content_block_stop', index: i });
    content.push({ type: 'thinking', thinking: reply.thinking.join(''), signature });
  }
  if (reply.text) {
    const i = blockIndex++;
    events.push({
      type: 'content_block_start',
      index: i,
      content_block: { type: 'text', text: '' },
    });
    for (const t of reply.text) {
      events.push({
        type: 'content_block_delta',
        index: i,
        delta: { type: 'text_delta', text: t },
      });
    }
    events.push({ type: 'content_block_stop', index: i });
    content.push({ type: 'text', text: reply.text.join('') });
  }
  (reply.toolCalls ?? []).forEach((call, n) => {
    const i = blockIndex++;
    const toolId = call.id ?? `toolu_fake_${index}_${n}`;
    events.push({
      type: 'content_block_start',
      index: i,
      content_block: { type: 'tool_use', id: toolId, name: call.name, input: {} },
    });
    // Anthropic starts every tool_use with an empty partial_json.
    for (const piece of ['', ...(call.jsonChunks ?? [JSON.stringify(call.input)])]) {
      events.push({
        type: 'content_block_delta',
        index: i,
        delta: { type: 'input_json_delta', partial_json: piece },
      });
    }
    events.push({ type: 'content_block_stop', index: i });
    content.push({ type: 'tool_use', id: toolId, name: call.name, input: call.input });
  });
  events.push({
    type: 'message_delta',
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: finalUsage,
  });
  events.push({ type: 'message_stop' });
  const message = {
    id,
    type: 'message',
    role: 'assistant',
    model: body.model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: finalUsage,
  };
  return { events, message };
}

/**
 * A scripted Anthropic Messages API server on 127.0.0.1 (a real HTTP server, so the AI SDK's
 * Anthropic provider, fetch and sockets behave as against api.anthropic.com). POST /v1/messages
 * with `"stream": true` answers Server-Sent Events, without it one JSON message.
 */
export async function startFakeAnthropic(
  script: AnthropicScript = anthropicEchoScript,
): Promise<FakeAnthropic> {
  const requests: AnthropicRequest[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const signed = new Map<string, string>();

  const sendError = (res: ServerResponse, status: number, type: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type, message } }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/messages') {
      sendError(res, 404, 'not_found_error', `no route ${req.method} ${path}`);
      return;
    }
    let body: AnthropicRequest;
    try {
      body = JSON.parse(raw) as AnthropicRequest;
    } catch {
      sendError(res, 400, 'invalid_request_error', 'invalid JSON body');
      return;
    }
    const index = requests.length;
    requests.push(body);
    headers.push(req.headers);
    http.recorded(requests.length);
    const invalid = validateAnthropicRequest(body, signed);
    if (invalid) {
      sendError(res, 400, 'invalid_request_error', invalid);
      return;
    }
    const reply = fake.script(body, index);
    if (reply.hold) await http.hold();
    if (reply.status) {
      sendError(
        res,
        reply.status,
        reply.errorType ?? ERROR_TYPES[reply.status] ?? 'api_error',
        `scripted failure ${reply.status}`,
      );
      return;
    }
    const { events, message } = buildMessage(body, reply, index);
    for (const block of message.content) {
      if (block.type === 'thinking') signed.set(block.signature!, block.thinking!);
    }
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${index}` });
      res.end(JSON.stringify(message));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'request-id': `req_${index}`,
    });
    for (let i = 0; i < events.length; i++) {
      if (reply.dieAfterEvents !== undefined && i >= reply.dieAfterEvents) {
        req.socket.destroy();
        return;
      }
      if (reply.streamErrorAfterEvents !== undefined && i >= reply.streamErrorAfterEvents) {
        const error = { type: 'overloaded_error', message: 'Overloaded' };
        res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error })}\n\n`);
        return;
      }
      const event = events[i]!;
      res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      if (i === 0) res.write(`event: ping\ndata: ${JSON.stringify({ type: 'ping' })}\n\n`);
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    }
    res.end();
  };

  const http = await startScriptedServer(handle);
  const port = http.port;

  const fake: FakeAnthropic = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    headers,
    script,
    release: () => http.release(),
    waitForRequests: (count) => http.waitForRequests(count),
    close: () => http.close(),
  };
  return fake;
}
