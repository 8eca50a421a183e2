import type { FileInputRef, FileInputs, FileService } from '../files/file-service.js';
import { fileIdFromUri } from '../files/uri.js';
import { notFound } from '../protocol/errors.js';
import type { Content, Step } from '../protocol/types.js';

const contentOf = (step: Step): Content[] =>
  step.type === 'user_input' || step.type === 'model_output' ? (step.content ?? []) : [];

/**
 * The Files API URIs a turn's prompt names: first its history's (no path: they were checked when
 * sent), then this request's input, each with its JSON path for error messages.
 */
export function collectFileRefs(
  history: readonly Step[],
  inputSteps: readonly Step[],
  pathOf: (step: number, content: number) => string,
): FileInputRef[] {
  const refs: FileInputRef[] = [];
  for (const step of history) {
    for (const c of contentOf(step)) {
      if (c.type !== 'text' && c.uri !== undefined && fileIdFromUri(c.uri) !== undefined)
        refs.push({ uri: c.uri });
    }
  }
  inputSteps.forEach((step, i) =>
    contentOf(step).forEach((c, j) => {
      if (c.type !== 'text' && c.uri !== undefined && fileIdFromUri(c.uri) !== undefined)
        refs.push({ uri: c.uri, path: pathOf(i, j) });
    }),
  );
  return refs;
}

/** Loads the files of a turn before its run (a server without the Files API holds none). */
export async function loadFileInputs(
  files: FileService | undefined,
  project: string,
  refs: readonly FileInputRef[],
): Promise<FileInputs | undefined> {
  if (refs.length === 0) return undefined;
  if (files) return files.loadForInteraction(project, refs);
  const first = refs.find((r) => r.path !== undefined);
  if (first) throw notFound(`${first.path}.uri: file '${first.uri}' not found`);
  return new Map(refs.map((r) => [r.uri, null]));
}
