/**
 * The entry point of a parser process (see pool.ts): reads the documents the pool sends, one at a
 * time, and answers each with its text or the reason it could not be read. It exits when the
 * pool goes away.
 */
import { DocumentError } from './errors.js';
import type { ParseRequest, ParserMessage } from './protocol.js';
import { readDocument } from './read-document.js';

function send(message: ParserMessage): void {
  process.send!(message);
}

process.on('message', (request: ParseRequest) => {
  readDocument(request.input, () => send({ type: 'reading', id: request.id })).then(
    (document) => send({ type: 'parsed', id: request.id, document }),
    (error: unknown) => {
      const { kind, message } = DocumentError.isInstance(error)
        ? error
        : { kind: 'corrupt' as const, message: String(error) };
      send({ type: 'failed', id: request.id, error: { kind, message } });
    },
  );
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
