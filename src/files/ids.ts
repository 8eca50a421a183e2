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
