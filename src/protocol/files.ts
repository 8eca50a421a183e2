/**
 * Wire types of the Files API (spec §9.1–9.2). Unlike the Interactions API its JSON is camelCase
 * and int64 values are strings (the proto3 JSON mapping), exactly as `@google/genai`'s `File` type.
 */
import { z } from 'zod';

export interface FileStatus {
  code: number;
  message: string;
  details?: Record<string, unknown>[];
}

export interface FileResource {
  /** `files/{id}` */
  name: string;
  displayName?: string;
  mimeType: string;
  /** int64 as a string */
  sizeBytes: string;
  createTime: string;
  updateTime: string;
  expirationTime?: string;
  /** Base64 of the lowercase hex SHA-256 digest (what Google returns; see file-service.ts). */
  sha256Hash?: string;
  /** `{base}/{v}/files/{id}`: what clients put into content `uri`. */
  uri: string;
  downloadUri?: string;
  state: 'STATE_UNSPECIFIED' | 'PROCESSING' | 'ACTIVE' | 'FAILED';
  source: 'SOURCE_UNSPECIFIED' | 'UPLOADED' | 'GENERATED' | 'REGISTERED';
  error?: FileStatus;
}

export interface ListFilesResponse {
  files?: FileResource[];
  nextPageToken?: string;
}

/** File ids: up to 40 of `[a-z0-9-]`, no dash at either end (the `File.name` rule of the SDK). */
export const FILE_ID = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

/** int64 in JSON: a decimal string, or a number (lenient for hand-written requests). */
const int64 = z.union([
  z.string().regex(/^\d{1,16}$/, 'expected a non-negative integer'),
  z.number().int().nonnegative(),
]);

/** Body of the resumable start request (`ai.files.upload` sends `{file: {...}}`). */
export const startFileUploadSchema = z.strictObject({
  file: z
    .strictObject({
      name: z.string().optional(),
      displayName: z.string().max(512, 'longer than 512 characters').optional(),
      mimeType: z.string().min(1).max(255).optional(),
      sizeBytes: int64.optional(),
    })
    .optional(),
});

export type StartFileUpload = z.infer<typeof startFileUploadSchema>;
