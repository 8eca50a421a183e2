import { randomBytes } from 'node:crypto';

/** Call ids like Google's: 8 lowercase alphanumerics. */
export function newCallId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (const b of randomBytes(8)) id += alphabet[b % alphabet.length];
  return id;
}

/** Interaction ids: `v1_` + 128 random bits, base64url (URL-path safe, unguessable). */
export function newInteractionId(): string {
  return `v1_${randomBytes(16).toString('base64url')}`;
}
