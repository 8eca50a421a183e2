/**
 * Removes `[n]` citation markers from streamed model text.
 *
 * Why: tools that return sources (google_search, url_context; file_search next) ask the model to
 * cite them as `[1]`, `[2][3]` or `[1, 2]`. Clients must never see those markers: they get the
 * clean text plus `*_citation` annotations over it (spec §4.3, like Google's answers). The text
 * arrives in deltas and a marker may be split anywhere (`… Europe [` + `1].`), so this is a small
 * state machine fed delta by delta: it holds back only what may still become a marker (a partial
 * `[12`, the spaces right before it, one character after a complete `[1]`) and emits everything
 * else at once. It records where each marker stood in the clean text; `citations.ts` turns those
 * places into annotations. Hand-written because no npm package filters a stream this way.
 *
 * Rules:
 * - A marker is `[` n (`,` ` `? n)* `]` with n = 1..999. Anything else starting with `[` (`[0]`,
 *   `[a]`, `[1-2]`, `[`) comes out unchanged. So do `[1](url)` (a Markdown link), `[text][1]` (a
 *   reference link) and `[1]:` at the start of a line (a reference definition).
 * - Nothing inside Markdown code is touched: inline code (a backtick run up to the same run, or the
 *   end of the line) and fenced blocks (a run of 3+ backticks at the start of a line, up to a run at
 *   least as long at the start of a line). `xs[1]` in code stays.
 * - Spaces before a marker go with it (`Europe [1].` → `Europe.`) unless a word follows the marker
 *   (`Europe [1]and` → `Europe and`); spaces after a marker that opened a line go too.
 */

/** One marker number and where the marker stood in the clean text. */
export interface CitationMark {
  /** The source number the model wrote (1-based, as the tool numbered its sources). */
  source: number;
  /** Position in the clean text, in UTF-16 code units (a JS string index). */
  offset: number;
}

const COMPLETE = /^\[[1-9]\d{0,2}(?:, ?[1-9]\d{0,2})*\]$/;
const PARTIAL = /^\[(?:[1-9]\d{0,2}(?:, ?(?:[1-9]\d{0,2})?)*)?$/;
/** Longer candidates are not markers (bounds what is held back). */
const MAX_MARKER_LENGTH = 40;
/** A space before a removed marker is dropped when one of these follows the marker. */
const CLOSING = /^[.,;:!?)\]}\r\n]$/;

const isBlank = (c: string) => c === ' ' || c === '\t';

export class CitationMarkerFilter {
  readonly marks: CitationMark[] = [];
  private clean = '';
  private out = '';
  /** The last character emitted. */
  private last = '';
  /** Held spaces/tabs (emitted once the next character shows they are not before a marker). */
  private spaces = '';
  /** `spaces` stood before a removed marker: they come back only if a word follows. */
  private spacesBeforeMarker = false;
  /** A possible marker, held until it is complete and the character after it is known. */
  private candidate = '';
  private candidateAtLineStart = false;
  /** Nothing but blanks (and removed markers) since the start of the line. */
  private lineStart = true;
  /** Drop blanks: they follow a marker that opened the line. */
  private afterLineStartMarker = false;
  private ticks = 0;
  private ticksAtLineStart = false;
  private inlineCode = 0;
  private fence = 0;

  /** The clean text emitted so far. */
  get text(): string {
    return this.clean;
  }

  /** Feeds one delta; returns the clean text that can be shown now (may be empty). */
  push(delta: string): string {
    for (const c of delta) this.step(c);
    return this.take();
  }

  /** The text ended: returns what was held back. */
  end(): string {
    this.resolveTicks();
    if (this.candidate) {
      if (COMPLETE.test(this.candidate)) this.removeMarker();
      else this.rejectCandidate('');
    }
    if (!this.spacesBeforeMarker) this.emit(this.spaces);
    this.spaces = '';
    this.spacesBeforeMarker = false;
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.clean += out;
    this.out = '';
    return out;
  }

  private emit(s: string): void {
    if (!s) return;
    this.out += s;
    this.last = s.at(-1)!;
  }

  private get offset(): number {
    return this.clean.length + this.out.length;
  }

  private step(c: string): void {
    if (this.candidate) {
      this.extendCandidate(c);
      return;
    }
    if (c === '`') {
      if (!this.fence && !this.inlineCode) this.releaseSpaces(c);
      if (this.ticks === 0) this.ticksAtLineStart = this.lineStart;
      this.ticks += 1;
      this.emit(c);
      this.lineStart = false;
      this.afterLineStartMarker = false;
      return;
    }
    this.resolveTicks();
    if (this.fence || this.inlineCode) {
      this.emit(c);
      if (c === '\n') {
        this.inlineCode = 0;
        this.lineStart = true;
      } else if (!isBlank(c)) {
        this.lineStart = false;
      }
      return;
    }
    this.prose(c);
  }

  private prose(c: string): void {
    if (isBlank(c)) {
      if (this.afterLineStartMarker) return;
      if (this.spacesBeforeMarker) {
        // blanks after a marker: the ones before it stay dropped
        this.spaces = '';
        this.spacesBeforeMarker = false;
      }
      this.spaces += c;
      return;
    }
    // `[text][1]` is a Markdown reference link, not a citation
    if (c === '[' && !(this.last === ']' && this.spaces === '')) {
      this.candidate = '[';
      this.candidateAtLineStart = this.lineStart;
      return;
    }
    this.releaseSpaces(c);
    this.emit(c);
    this.afterLineStartMarker = false;
    this.lineStart = c === '\n';
  }

  /** Emits (or drops) the held blanks before `next`. */
  private releaseSpaces(next: string): void {
    if (!this.spacesBeforeMarker || !CLOSING.test(next)) this.emit(this.spaces);
    this.spaces = '';
    this.spacesBeforeMarker = false;
  }

  private extendCandidate(c: string): void {
    if (COMPLETE.test(this.candidate)) {
      // `[1](…)` is a Markdown link, `[1]:` opening a line a reference definition: keep both.
      const literal = c === '(' || (c === ':' && this.candidateAtLineStart);
      if (literal) this.rejectCandidate(c);
      else {
        this.removeMarker();
        this.step(c);
      }
      return;
    }
    const next = this.candidate + c;
    if (next.length <= MAX_MARKER_LENGTH && (COMPLETE.test(next) || PARTIAL.test(next))) {
      this.candidate = next;
      return;
    }
    this.rejectCandidate(c);
  }

  /** Not a marker: the `[` is ordinary text, the rest is read again. */
  private rejectCandidate(c: string): void {
    const rest = this.candidate.slice(1) + c;
    this.candidate = '';
    this.releaseSpaces('[');
    this.emit('[');
    this.lineStart = false;
    this.afterLineStartMarker = false;
    for (const ch of rest) this.step(ch);
  }

  private removeMarker(): void {
    if (this.candidateAtLineStart) {
      // the blanks before it are the line's indentation
      this.emit(this.spaces);
      this.spaces = '';
      this.spacesBeforeMarker = false;
      this.afterLineStartMarker = true;
    } else if (this.spaces) {
      this.spacesBeforeMarker = true;
    }
    for (const n of this.candidate.slice(1, -1).split(',')) {
      this.marks.push({ source: Number(n.trim()), offset: this.offset });
    }
    this.candidate = '';
  }

  /** A run of backticks ended: it opens or closes code. */
  private resolveTicks(): void {
    if (this.ticks === 0) return;
    const run = this.ticks;
    this.ticks = 0;
    if (this.fence) {
      if (this.ticksAtLineStart && run >= this.fence) this.fence = 0;
    } else if (this.inlineCode) {
      if (run === this.inlineCode) this.inlineCode = 0;
    } else if (this.ticksAtLineStart && run >= 3) {
      this.fence = run;
    } else {
      this.inlineCode = run;
    }
  }
}
