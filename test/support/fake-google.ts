import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/** What the scripted Gemini API server answers to one generateContent request. */
export interface GoogleReply {
  /** Thought-summary parts (`thought: true`), one chunk each, before the text. */
  thinking?: string[];
  /** Text parts, one chunk each. */
  text?: string[];
  /** `functionCall` parts, all in one chunk (parallel calls), after the text. */
  functionCalls?: { name: string; args: Record<string, unknown>; id?: string }[];
  /**
   * The `thoughtSignature` Gemini 3 attaches to the first function call (or, without calls, to
   * the last text part). Default `sig-<request index>`; `null` sends none.
   */
  thoughtSignature?: string | null;
  /** Default `STOP` (Gemini reports STOP for function calls too). */
  finishReason?:
    'STOP' | 'MAX_TOKENS' | 'SAFETY' | 'RECITATION' | 'MALFORMED_FUNCTION_CALL' | 'OTHER';
  usage?: { promptTokenCount: number; candidatesTokenCount: number; thoughtsTokenCount?: number };
  /** HTTP error status instead of a response (body: Google's error JSON). */
  status?: number;
  /** Milliseconds to wait between chunks. */
  delayMs?: number;
  /** Destroy the connection after this many chunks (mid-stream failure). */
  dieAfterChunks?: number;
  /** Hold the request open until `release()` is called (slow upstream). */
  hold?: boolean;
}

export type GoogleScript = (body: GoogleRequest, index: number) => GoogleReply;

export interface GooglePart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: {
    id?: string;
    name: string;
    response: Record<string, unknown>;
    parts?: unknown[];
  };
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  [key: string]: unknown;
}

export interface GoogleRequest {
  contents: { role: 'user' | 'model'; parts: GooglePart[] }[];
  systemInstruction?: { parts: { text: string }[] };
  generationConfig?: {
    maxOutputTokens?: number;
    temperature?: number;
    thinkingConfig?: { thinkingLevel?: string; thinkingBudget?: number; includeThoughts?: boolean };
    [key: string]: unknown;
  };
  tools?: {
    functionDeclarations?: { name: string; description?: string; parameters?: unknown }[];
  }[];
  toolConfig?: { functionCallingConfig?: { mode?: string; allowedFunctionNames?: string[] } };
  [key: string]: unknown;
}

export interface RecordedGoogleRequest {
  /** The model id from the path (`models/{model}:…`). */
  model: string;
  method: 'generateContent' | 'streamGenerateContent';
  /** The query string (`alt=sse` when streaming). */
  query: string;
  headers: IncomingHttpHeaders;
  body: GoogleRequest;
}

export interface FakeGoogle {
  /** The provider's base URL (`…/v1beta`). */
  url: string;
  /** The parsed bodies, in arrival order. */
  requests: GoogleRequest[];
  /** Path, query and headers of each request, in the order of `requests`. */
  calls: RecordedGoogleRequest[];
  script: GoogleScript;
  release(): void;
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

const ERROR_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function lastUserText(body: GoogleRequest): string {
  const user = [...body.contents].reverse().find((c) => c.role === 'user');
  return (user?.parts ?? []).map((p) => p.text ?? '').join('');
}

/** Default: answers "echo: <last user text>" in two chunks. */
export const googleEchoScript: GoogleScript = (body) => {
  const text = `echo: ${lastUserText(body)}`;
  const mid = Math.ceil(text.length / 2);
  return {
    text: [text.slice(0, mid), text.slice(mid)],
    usage: { promptTokenCount: 10 + body.contents.length, candidatesTokenCount: 5 },
  };
};

/**
 * The check of the real API that matters to a tool loop on Gemini 3: in the current turn (the
 * contents after the last user message that is not only function responses), the first
 * `functionCall` of each model content must carry a `thoughtSignature`.
 */
export function validateGoogleRequest(model: string, body: GoogleRequest): string | undefined {
  if (!Array.isArray(body.contents) || body.contents.length === 0) {
    return '* GenerateContentRequest.contents: contents is not specified';
  }
  if (!/(^|\/)gemini-([3-9]|\d{2,})/.test(model)) return undefined;
  let turnStart = 0;
  body.contents.forEach((c, i) => {
    if (c.role === 'user' && c.parts.some((p) => !p.functionResponse)) turnStart = i;
  });
  for (const [i, content] of body.contents.entries()) {
    if (i < turnStart || content.role !== 'model') continue;
    const first = content.parts.findIndex((p) => p.functionCall);
    if (first >= 0 && !content.parts[first]!.thoughtSignature) {
      return (
        `Function call is missing a thought_signature in functionCall parts. This is required for ` +
        `tools to work correctly, and missing thought_signature may lead to degraded model ` +
        `performance. Additional data, function call \`default_api:${content.parts[first]!.functionCall!.name}\` , ` +
        `position ${first + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`
      );
    }
  }
  return undefined;
}

/** The streamed chunks and the merged (non-streaming) response of one scripted reply. */
function buildResponse(model: string, reply: GoogleReply, index: number) {
  const usage = reply.usage ?? { promptTokenCount: 7, candidatesTokenCount: 3 };
  const usageMetadata = {
    promptTokenCount: usage.promptTokenCount,
    candidatesTokenCount: usage.candidatesTokenCount,
    ...(usage.thoughtsTokenCount !== undefined
      ? { thoughtsTokenCount: usage.thoughtsTokenCount }
      : {}),
    totalTokenCount:
      usage.promptTokenCount + usage.candidatesTokenCount + (usage.thoughtsTokenCount ?? 0),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: usage.promptTokenCount }],
  };
  const signature = reply.thoughtSignature === undefined ? `sig-${index}` : reply.thoughtSignature;
  const chunkParts: GooglePart[][] = [];
  for (const t of reply.thinking ?? []) chunkParts.push([{ text: t, thought: true }]);
  const texts = reply.text ?? [];
  texts.forEach((t, i) => {
    const last = i === texts.length - 1 && !reply.functionCalls?.length;
    chunkParts.push([{ text: t, ...(last && signature ? { thoughtSignature: signature } : {}) }]);
  });
  if (reply.functionCalls?.length) {
    chunkParts.push(
      reply.functionCalls.map((call, i) => ({
        functionCall: { ...(call.id ? { id: call.id } : {}), name: call.name, args: call.args },
        ...(i === 0 && signature ? { thoughtSignature: signature } : {}),
      })),
    );
  }
  if (chunkParts.length === 0) chunkParts.push([{ text: '' }]);
  const finishReason = reply.finishReason ?? 'STOP';
  const responseId = `resp-fake-${index}`;
  const chunks = chunkParts.map((parts, i) => {
    const last = i === chunkParts.length - 1;
    return {
      candidates: [
        {
          content: { role: 'model', parts },
          index: 0,
          ...(last ? { finishReason } : {}),
        },
      ],
      usageMetadata: last
        ? usageMetadata
        : { promptTokenCount: usage.promptTokenCount, totalTokenCount: usage.promptTokenCount },
      modelVersion: model,
      responseId,
    };
  });
  const response = {
    candidates: [{ content: { role: 'model', parts: chunkParts.flat() }, index: 0, finishReason }],
    usageMetadata,
    modelVersion: model,
    responseId,
  };
  return { chunks, response };
}

/**
 * A scripted Gemini API server on 127.0.0.1 (a real HTTP server, so the AI SDK's Google provider,
 * fetch and sockets behave as against generativelanguage.googleapis.com):
 * POST /v1beta/models/{model}:streamGenerateContent?alt=sse answers Server-Sent Events of
 * GenerateContentResponse chunks, POST …:generateContent one JSON response.
 */
export async function startFakeGoogle(
  script: GoogleScript = googleEchoScript,
): Promise<FakeGoogle> {
  const requests: GoogleRequest[] = [];
  const calls: RecordedGoogleRequest[] = [];

  const sendError = (res: ServerResponse, code: number, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify({ error: { code, message, status: ERROR_STATUS[code] ?? 'UNKNOWN' } }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const [path = '', query = ''] = (req.url ?? '').split('?');
    const match = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path);
    if (req.method !== 'POST' || !match) {
      sendError(res, 404, `no route ${req.method} ${path}`);
      return;
    }
    const model = decodeURIComponent(match[1]!);
    const method = match[2] as RecordedGoogleRequest['method'];
    let body: GoogleRequest;
    try {
      body = JSON.parse(raw) as GoogleRequest;
    } catch {
      sendError(res, 400, 'Invalid JSON payload received.');
      return;
    }
    const index = requests.length;
    requests.push(body);
    calls.push({ model, method, query, headers: req.headers, body });
    http.recorded(requests.length);
    const invalid = validateGoogleRequest(model, body);
    if (invalid) {
      sendError(res, 400, invalid);
      return;
    }
    const reply = fake.script(body, index);
    if (reply.hold) await http.hold();
    if (reply.status) {
      sendError(res, reply.status, `scripted failure ${reply.status}`);
      return;
    }
    const { chunks, response } = buildResponse(model, reply, index);
    if (method === 'generateContent') {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(response));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (let i = 0; i < chunks.length; i++) {
      if (reply.dieAfterChunks !== undefined && i >= reply.dieAfterChunks) {
        req.socket.destroy();
        return;
      }
      res.write(`data: ${JSON.stringify(chunks[i])}\r\n\r\n`);
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    }
    res.end();
  };

  const http = await startScriptedServer(handle);
  const port = http.port;

  const fake: FakeGoogle = {
    url: `http://127.0.0.1:${port}/v1beta`,
    requests,
    calls,
    script,
    release: () => http.release(),
    waitForRequests: (count) => http.waitForRequests(count),
    close: () => http.close(),
  };
  return fake;
}
