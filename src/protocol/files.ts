/**
 * Wire types of the Files API (spec §9.1–9.2). Unlike the Interactions API its JSON is camelCase
 * and int64 values are strings (the proto3 JSON mapping), exactly as `@google/genai`'s `File` type.
 */
import { z } from 'zod';

export const fileStatusSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  details: z.array(z.record(z.string(), z.unknown())).optional(),
});

export const fileResourceSchema = z.object({
  /** `files/{id}` */
  name: z.string(),
  displayName: z.string().optional(),
  mimeType: z.string(),
  /** int64 as a string */
  sizeBytes: z.string(),
  createTime: z.string(),
  updateTime: z.string(),
  expirationTime: z.string().optional(),
  /** Base64 of the lowercase hex SHA-256 digest (what Google returns; see file-service.ts). */
  sha256Hash: z.string().optional(),
  /** `{base}/{v}/files/{id}`: what clients put into content `uri`. */
  uri: z.string(),
  downloadUri: z.string().optional(),
  state: z.enum(['STATE_UNSPECIFIED', 'PROCESSING', 'ACTIVE', 'FAILED']),
  source: z.enum(['SOURCE_UNSPECIFIED', 'UPLOADED', 'GENERATED', 'REGISTERED']),
  error: fileStatusSchema.optional(),
});

export const listFilesResponseSchema = z.object({
  files: z.array(fileResourceSchema).optional(),
  nextPageToken: z.string().optional(),
});

export type FileStatus = z.infer<typeof fileStatusSchema>;
export type FileResource = z.infer<typeof fileResourceSchema>;
export type ListFilesResponse = z.infer<typeof listFilesResponseSchema>;

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
