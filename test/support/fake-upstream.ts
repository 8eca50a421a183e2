import { type IncomingMessage, type ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/** What the scripted upstream answers to one chat-completions request. */
export interface UpstreamReply {
  /** Text deltas, streamed in order. */
  text?: string[];
  /** Reasoning deltas (sent as `reasoning_content`, before the text). */
  reasoning?: string[];
  /** Tool calls; arguments are streamed in `argumentChunks` pieces when given. */
  toolCalls?: { name: string; arguments: string; argumentChunks?: string[] }[];
  finishReason?: 'stop' | 'length' | 'tool_calls';
  usage?: { prompt_tokens: number; completion_tokens: number; reasoning_tokens?: number };
  /** HTTP error status instead of a completion. */
  status?: number;
  /** Milliseconds to wait between chunks. */
  delayMs?: number;
  /** Destroy the connection after this many chunks (mid-stream failure). */
  dieAfterChunks?: number;
  /** Hold the request open until `release()` is called (slow upstream). */
  hold?: boolean;
  /** Error answers (`status`, `errorAfterChunks`) echo the request's headers, credentials included. */
  echoHeaders?: boolean;
  /** After this many chunks, an SSE chunk `{"error": …}` ends the answer (a failure reported mid-answer). */
  errorAfterChunks?: number;
  /** With `errorAfterChunks`: keep the connection open after the error chunk, until `release()`. */
  holdAfterError?: boolean;
  /** This body instead of a completion (status 200 unless `status`); `cut`: the connection then breaks. */
  raw?: { contentType: string; body: string; cut?: boolean };
  /** Send this many chunks, then hold until `release()` (a pause mid-answer). */
  holdAfterChunks?: number;
}

export type UpstreamScript = (body: ChatRequest, index: number) => UpstreamReply;

export interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown; tool_calls?: unknown[]; tool_call_id?: string }[];
  stream?: boolean;
  tools?: { type: string; function: { name: string } }[];
  [key: string]: unknown;
}

export interface FakeUpstream {
  url: string;
  requests: ChatRequest[];
  script: UpstreamScript;
  /** Releases held requests. */
  release(): void;
  /** Resolves when a request has arrived (count = total requests seen). */
  waitForRequests(count: number): Promise<void>;
  /** Resolves when requests have been held `count` times in all (`hold`, `holdAfterChunks`). */
  waitForHeld(count: number): Promise<void>;
  /** Requests (by index) whose answer the server stopped reading: closed before the reply ended. */
  closedEarly: Set<number>;
  /** Resolves once the answer to request `index` has been closed early. */
  waitForClosedEarly(index: number): Promise<void>;
  close(): Promise<void>;
}

/** The text of the last user message (what scripts answer to). */
export function lastUserText(body: ChatRequest): string {
  const user = [...body.messages].reverse().find((m) => m.role === 'user');
  if (!user) return '';
  if (typeof user.content === 'string') return user.content;
  return (user.content as { type: string; text?: string }[])
    .map((p) => (p.type === 'text' ? (p.text ?? '') : ''))
    .join('');
}

/** Default: answers "echo: <last user text>" in two chunks with usage. */
export const echoScript: UpstreamScript = (body) => {
  const text = `echo: ${lastUserText(body)}`;
  const mid = Math.ceil(text.length / 2);
  return {
    text: [text.slice(0, mid), text.slice(mid)],
    usage: { prompt_tokens: 10 + body.messages.length, completion_tokens: 5 },
  };
};

/**
 * A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (a real HTTP server, so the
 * AI SDK provider, fetch and sockets behave exactly as against vLLM or Ollama).
 */
export async function startFakeUpstream(
  script: UpstreamScript = echoScript,
): Promise<FakeUpstream> {
  const requests: ChatRequest[] = [];
  const closeWaiters: { index: number; resolve: () => void }[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (!req.url?.endsWith('/chat/completions')) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(raw) as ChatRequest;
    const index = requests.length;
    res.on('close', () => {
      if (res.writableEnded) return;
      fake.closedEarly.add(index);
      for (const waiter of closeWaiters.filter((w) => w.index === index)) waiter.resolve();
    });
    requests.push(body);
    http.recorded(requests.length);
    const reply = fake.script(body, index);
    if (reply.hold) await http.hold();
    const failure = (status?: number) => ({
      error: {
        message: `scripted failure ${status ?? 'mid-answer'}${reply.echoHeaders ? ` (you sent ${JSON.stringify(req.headers)})` : ''}`,
        type: 'server_error',
        ...(reply.echoHeaders ? { request_headers: req.headers } : {}),
      },
    });
    if (reply.raw) {
      res.writeHead(reply.status ?? 200, { 'content-type': reply.raw.contentType });
      if (!reply.raw.cut) {
        res.end(reply.raw.body);
        return;
      }
      res.write(reply.raw.body);
      await new Promise((r) => setTimeout(r, 20));
      req.socket.destroy();
      return;
    }
    if (reply.status) {
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(failure(reply.status)));
      return;
    }
    const created = Math.floor(Date.now() / 1000);
    const base = {
      id: `chatcmpl-${index}`,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
    };
    const chunks: object[] = [];
    chunks.push({
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    });
    for (const r of reply.reasoning ?? []) {
      chunks.push({
        ...base,
        choices: [{ index: 0, delta: { reasoning_content: r }, finish_reason: null }],
      });
    }
    for (const t of reply.text ?? []) {
      chunks.push({ ...base, choices: [{ index: 0, delta: { content: t }, finish_reason: null }] });
    }
    (reply.toolCalls ?? []).forEach((call, i) => {
      const pieces = call.argumentChunks ?? [call.arguments];
      pieces.forEach((piece, j) => {
        const toolCall =
          j === 0
            ? {
                index: i,
                id: `call_${index}_${i}`,
                type: 'function',
                function: { name: call.name, arguments: piece },
              }
            : { index: i, function: { arguments: piece } };
        chunks.push({
          ...base,
          choices: [{ index: 0, delta: { tool_calls: [toolCall] }, finish_reason: null }],
        });
      });
    });
    const finish = reply.finishReason ?? (reply.toolCalls?.length ? 'tool_calls' : 'stop');
    chunks.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] });
    const usage = reply.usage ?? { prompt_tokens: 7, completion_tokens: 3 };
    chunks.push({
      ...base,
      choices: [],
      usage: {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens + (usage.reasoning_tokens ?? 0),
        total_tokens: usage.prompt_tokens + usage.completion_tokens + (usage.reasoning_tokens ?? 0),
        ...(usage.reasoning_tokens
          ? { completion_tokens_details: { reasoning_tokens: usage.reasoning_tokens } }
          : {}),
      },
    });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (let i = 0; i < chunks.length; i++) {
      if (reply.dieAfterChunks !== undefined && i >= reply.dieAfterChunks) {
        req.socket.destroy();
        return;
      }
      if (reply.errorAfterChunks !== undefined && i >= reply.errorAfterChunks) {
        const error = `data: ${JSON.stringify(failure())}\n\n`;
        if (!reply.holdAfterError) {
          res.end(error);
          return;
        }
        res.write(error);
        await http.hold();
        res.end('data: [DONE]\n\n');
        return;
      }
      if (i === reply.holdAfterChunks) await http.hold();
      res.write(`data: ${JSON.stringify(chunks[i])}\n\n`);
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    }
    res.end('data: [DONE]\n\n');
  };

  const http = await startScriptedServer(handle);
  const port = http.port;

  const fake: FakeUpstream = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script,
    release: () => http.release(),
    waitForRequests: (count) => http.waitForRequests(count),
    waitForHeld: (count) => http.waitForHeld(count),
    closedEarly: new Set(),
    waitForClosedEarly: (index) =>
      fake.closedEarly.has(index)
        ? Promise.resolve()
        : new Promise((resolve) => closeWaiters.push({ index, resolve })),
    close: () => http.close(),
  };
  return fake;
}
