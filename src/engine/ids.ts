import { randomBytes, randomFillSync } from 'node:crypto';

/** Call ids like Google's: 8 lowercase alphanumerics. */
export function newCallId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (const b of randomBytes(8)) id += alphabet[b % alphabet.length];
  return id;
}

// Random bytes are drawn from the system in blocks: one `getrandom` call per id cost more than
// the rest of the id (node pools the same way for `randomUUID`, but its ids are not 128 bits).
const ID_BYTES = 16;
const pool = Buffer.alloc(ID_BYTES * 256);
let poolOffset = pool.length;

/** Interaction ids: `v1_` + 128 random bits, base64url (URL-path safe, unguessable). */
export function newInteractionId(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return `v1_${id}`;
}
