import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { preconditionFailed } from '../protocol/errors.js';
import type { JsonObject, JsonValue } from '../protocol/types.js';

/**
 * The secrets of a queued run's request kept out of the job table (run-queue.ts).
 *
 * A job must carry enough for any node to run the request again (a takeover after its node
 * died), and the request may carry credentials: the `headers` of its `mcp_server` tools. The
 * interaction's own rows never hold them (engine.ts stores them redacted), so the job is the only
 * place they could live, and pg-boss keeps a job in `pgboss.job` (and its archive) as plain JSON.
 *
 * So the job's body leaves them out, and they travel beside it sealed with AES-256-GCM under the
 * operator's key (`run_queue.secret_key`, the same on every node), bound to the interaction id
 * (a sealed value copied to another job does not open). Sealing only the secrets, not the body,
 * keeps the rest of a job readable to an operator inspecting the queue. A job holding only the
 * interaction id would need the credentials kept in another table, sealed with the same shared
 * key (no node can open them otherwise) and deleted with the run: the job already has that
 * lifetime (it is deleted when the run ends), so they stay in it. Without a key they are
 * not kept at all: the node that created the run still has them in memory and runs it, and a
 * takeover by another node fails with a reason naming the setting, rather than ever writing a
 * credential in clear. node:crypto does the cipher; the envelope (version, IV, tag, ciphertext)
 * is a few lines of code, so no library is pulled in for it.
 */

/** What `split` takes out of a request body. */
export interface JobSecrets {
  /** The request body without secrets (every `headers` of a tool entry removed). */
  body: JsonObject;
  /** `v1.<iv>.<tag>.<ciphertext>` (base64url) of `{ <tool index>: headers }`, when a key is set. */
  sealed?: string;
  /** Paths of the secrets left out and not kept (no key), e.g. `tools[0].headers`. */
  withheld?: string[];
}

const VERSION = 'v1';

/** Reads the operator's key: 64 hex digits or base64 of 32 bytes. */
export function parseSecretKey(text: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, 'hex')
    : Buffer.from(text, 'base64');
  if (key.length !== 32) {
    throw new Error('run_queue.secret_key: must be 32 bytes, as 64 hex digits or in base64');
  }
  return key;
}

export class JobSealer {
  constructor(private readonly key?: Buffer) {}

  /** Takes the tools' headers out of `body` (sealed if a key is set). */
  split(interactionId: string, body: JsonObject): JobSecrets {
    const tools = body.tools;
    if (!Array.isArray(tools)) return { body };
    const secrets: Record<string, JsonValue> = {};
    const stripped = tools.map((tool, i) => {
      if (!tool || typeof tool !== 'object' || Array.isArray(tool) || tool.headers === undefined)
        return tool;
      const { headers, ...rest } = tool;
      secrets[String(i)] = headers ?? null;
      return rest;
    });
    const paths = Object.keys(secrets).map((i) => `tools[${i}].headers`);
    if (paths.length === 0) return { body };
    const out = { ...body, tools: stripped };
    if (!this.key) return { body: out, withheld: paths };
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(interactionId));
    const data = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
    const sealed = [VERSION, iv, cipher.getAuthTag(), data]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
    return { body: out, sealed };
  }

  /**
   * The request body as the client sent it. Throws an error naming the setting when its secrets
   * were not kept (no key where it was queued) or do not open with this node's key.
   */
  join(interactionId: string, parts: JobSecrets): JsonObject {
    if (parts.withheld && parts.withheld.length > 0) {
      throw preconditionFailed(
        `its credentials (${parts.withheld.join(', ')}) were held only by the node that stopped: ` +
          'they are kept in the run queue only when run_queue.secret_key is set (the same on every node)',
      );
    }
    if (parts.sealed === undefined) return parts.body;
    const secrets = this.open(interactionId, parts.sealed);
    const tools = parts.body.tools;
    if (!Array.isArray(tools)) return parts.body;
    return {
      ...parts.body,
      tools: tools.map((tool, i) =>
        secrets[String(i)] !== undefined && tool && typeof tool === 'object' && !Array.isArray(tool)
          ? { ...tool, headers: secrets[String(i)]! }
          : tool,
      ),
    };
  }

  private open(interactionId: string, sealed: string): Record<string, JsonValue> {
    const unreadable = preconditionFailed(
      "its credentials in the run queue do not open with this node's run_queue.secret_key (every node needs the same key)",
    );
    const [version, iv, tag, data] = sealed.split('.');
    if (!this.key || version !== VERSION || !iv || !tag || data === undefined) throw unreadable;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(interactionId));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const text = Buffer.concat([
        decipher.update(Buffer.from(data, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
      return JSON.parse(text) as Record<string, JsonValue>;
    } catch {
      throw unreadable;
    }
  }
}
