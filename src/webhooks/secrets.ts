import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Signing secrets of webhooks: Standard Webhooks' form (`whsec_` + base64 of 24 random bytes),
 * signatures made by the reference implementation (`standardwebhooks`, by Svix), and secrets
 * sealed at rest with AES-256-GCM when the server has a durable key (`signature_secret`), so a
 * dump of the table does not hand them out. The cipher is node:crypto's; the key is derived
 * with HKDF so the configured secret is not used for two purposes as is.
 */

const PREFIX = 'whsec_';

export function newSigningSecret(): string {
  return PREFIX + randomBytes(24).toString('base64');
}

/** What `signing_secrets[].truncated_secret` shows: the prefix and the first 4 characters. */
export function truncateSecret(secret: string): string {
  return `${secret.slice(0, PREFIX.length + 4)}…`;
}

/** Signs one delivery with every secret: space-separated `v1,<base64>` entries. */
export function signDelivery(
  secrets: readonly string[],
  id: string,
  timestamp: Date,
  body: string,
): string {
  return secrets.map((s) => new Webhook(s).sign(id, timestamp, body)).join(' ');
}

export class SecretSealer {
  private readonly key: Buffer | undefined;

  /** `masterSecret`: the server's durable secret; without one, secrets are stored as they are. */
  constructor(masterSecret: string | undefined) {
    this.key = masterSecret
      ? Buffer.from(hkdfSync('sha256', masterSecret, 'open-interactions', 'webhook-secrets', 32))
      : undefined;
  }

  seal(secret: string): string {
    if (!this.key) return `plain:${secret}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64')}`;
  }

  /** The secret, or undefined when it was sealed with another key (the master secret changed). */
  open(stored: string): string | undefined {
    if (stored.startsWith('plain:')) return stored.slice('plain:'.length);
    if (!stored.startsWith('v1:') || !this.key) return undefined;
    const raw = Buffer.from(stored.slice(3), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
