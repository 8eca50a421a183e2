import { randomInt, randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `length` random lowercase letters and digits (unbiased: `randomInt` rejects out-of-range draws). */
function randomLowercase(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/**
 * File ids like Google's (`files/29zm2ddgh73v`): 12 lowercase letters and digits, because the SDK
 * pulls the id out of a file URI with `[a-z0-9]+`.
 */
export function newFileId(): string {
  return randomLowercase(12);
}

/** Upload session ids: 192 random bits. The id in the upload URL is what authorises its chunks. */
export function newUploadId(): string {
  return randomBytes(24).toString('base64url');
}

/** Where the bytes of an upload (and then of its file) live in the blob store. */
export function newFileBlobKey(): string {
  return `files/${randomLowercase(24)}`;
}

/**
 * Ids of File Search stores and documents, like Google's (`my-notes-123a456b789c`): the display
 * name as lowercase letters, digits and dashes, then a dash and 12 random letters and digits,
 * 40 characters at most. Without a usable display name, the random part alone.
 */
export function newResourceId(displayName?: string | null): string {
  const suffix = randomLowercase(12);
  const slug = (displayName ?? '')
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40 - suffix.length - 1)
    .replace(/^-+|-+$/g, '');
  return slug ? `${slug}-${suffix}` : suffix;
}

/** Operation ids: 12 random lowercase letters and digits. */
export function newOperationId(): string {
  return randomLowercase(12);
}

/** Where the uploaded bytes of a File Search document wait for ingestion. */
export function newDocumentBlobKey(): string {
  return `documents/${randomLowercase(24)}`;
}
