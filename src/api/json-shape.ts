/**
 * Counts the values and the nesting depth of a JSON body while its bytes arrive, so a body
 * that exceeds the limits is refused (400) before it is parsed at all, and the work is spread
 * over the body's chunks instead of blocking the event loop in one piece: `JSON.parse` of a
 * 27 MB body of a million small objects, and validating them, blocked every request for 7.5 s.
 *
 * Hand-written because it must do far less than a parser: no value is built, only structural
 * bytes are looked at (they are ASCII, so UTF-8 needs no decoding), and a streaming JSON
 * library would allocate every value the limits exist to refuse. Syntax errors are left to
 * `JSON.parse`, which runs on the complete body once the limits hold.
 */
import { Transform, type Readable } from 'node:stream';
import { ApiError, invalid } from '../protocol/errors.js';
import { jsonPath } from '../protocol/validate.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Levels of the path an error names (as in validate.ts). */
const PATH_LEVELS = 4;
/** Bytes of a key kept for the path. */
const KEY_BYTES = 128;

interface Frame {
  array: boolean;
  index: number;
  key: string;
}

export interface ShapeLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Most values (every array, object, array element and object member) in the body. */
  maxValues: number;
  /** The whole body must have arrived within this time (checkJsonShape only). */
  timeoutMs?: number;
}

export class JsonShapeScanner {
  private inString = false;
  private escaped = false;
  private expectKey = false;
  private values = 0;
  private readonly frames: Frame[] = [];
  /** Bytes of the key being read, when it belongs to the named part of the path. */
  private key: number[] | undefined;

  constructor(private readonly limits: ShapeLimits) {}

  /** Scans the next chunk of the body; throws a 400 naming where a limit was exceeded. */
  push(chunk: Uint8Array): void {
    const frames = this.frames;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // Next backslash at or after i (Infinity: none left in this chunk), found natively.
    let slash = -1;
    for (let i = 0; i < bytes.length; i++) {
      if (this.inString && !this.key && !this.escaped) {
        // Fast path through string contents: jump to the next quote or backslash.
        if (slash !== Infinity && slash < i) {
          slash = bytes.indexOf(BACKSLASH, i);
          if (slash === -1) slash = Infinity;
        }
        const quote = bytes.indexOf(QUOTE, i);
        if (slash < (quote === -1 ? Infinity : quote)) {
          // Skip the backslash and the byte it escapes (which may start the next chunk).
          i = slash + 1;
          if (i >= bytes.length) this.escaped = true;
          continue;
        }
        if (quote === -1) return;
        i = quote;
        this.inString = false;
        continue;
      }
      const b = bytes[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) {
          this.inString = false;
          if (this.key) {
            frames[frames.length - 1]!.key = Buffer.from(this.key).toString('utf8');
            this.key = undefined;
            continue;
          }
        }
        if (this.key && this.key.length < KEY_BYTES) this.key.push(b);
        continue;
      }
      switch (b) {
        case QUOTE:
          this.inString = true;
          if (this.expectKey && frames.length <= PATH_LEVELS) this.key = [];
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          if (frames.length >= this.limits.maxDepth) {
            throw invalid(`${this.path()}: nested more than ${this.limits.maxDepth} levels deep`);
          }
          this.count();
          frames.push({ array: b === OPEN_ARRAY, index: 0, key: '' });
          this.expectKey = b === OPEN_OBJECT;
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          frames.pop();
          this.expectKey = false;
          break;
        case COMMA: {
          this.count();
          const top = frames[frames.length - 1];
          if (top?.array) top.index++;
          this.expectKey = top !== undefined && !top.array;
          break;
        }
        case COLON:
          this.expectKey = false;
          break;
      }
    }
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) {
      throw invalid(
        `${this.path()}: the body holds more than ${this.limits.maxValues} JSON values (arrays, objects and their items)`,
      );
    }
  }

  /** The path of the value being read, like validate.ts names it (at most 4 levels). */
  private path(): string {
    const parts = this.frames.slice(0, PATH_LEVELS).map((f) => (f.array ? f.index : f.key));
    return jsonPath(parts) || 'body';
  }
}

/**
 * The request body stream with the limits applied to every chunk (a Fastify `preParsing`
 * stream): a body over a limit, or still arriving after `timeoutMs`, ends in an error answer
 * (400, 408) without being read further.
 */
export function checkJsonShape(payload: Readable, limits: ShapeLimits): Readable {
  const scanner = new JsonShapeScanner(limits);
  let received = 0;
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      try {
        scanner.push(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null, chunk);
    },
  });
  // Fastify checks its body limit against the bytes that arrived.
  Object.defineProperty(checked, 'receivedEncodedLength', { get: () => received });
  payload.on('error', (err) => checked.destroy(err));
  const timeoutMs = limits.timeoutMs;
  if (timeoutMs !== undefined) {
    const timer = setTimeout(
      () =>
        checked.destroy(
          new ApiError(
            'request_timeout',
            `body: the request body did not arrive within ${timeoutMs / 1000} s`,
          ),
        ),
      timeoutMs,
    );
    const stop = () => clearTimeout(timer);
    payload.once('end', stop);
    checked.once('close', stop);
  }
  return payload.pipe(checked);
}
