/**
 * Checks the structured results of MCP tools against the `outputSchema`s the MCP server
 * declares. The server is chosen by the tenant, so its schemas are tenant input: they compile
 * like `response_format` schemas (size limits, patterns in RE2, no shared registry) instead of
 * with the SDK's default Ajv, whose JavaScript RegExp a hostile pattern could stall.
 */
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';
import { compileTenantSchema } from '../../protocol/schema-compile.js';

export const mcpSchemaValidator: jsonSchemaValidator = {
  getValidator(schema) {
    let validate: ReturnType<typeof compileTenantSchema>;
    try {
      validate = compileTenantSchema(schema, 'outputSchema');
    } catch {
      // A schema we will not compile only loses the check of that tool's structured result,
      // which merely guards what the model reads; the tool itself stays usable.
      return (input) => ({ valid: true, data: input as never, errorMessage: undefined });
    }
    return (input) =>
      validate(input)
        ? { valid: true, data: input as never, errorMessage: undefined }
        : {
            valid: false,
            data: undefined,
            errorMessage: `${validate.errors?.[0]?.instancePath || '(root)'} ${validate.errors?.[0]?.message ?? 'does not match'}`,
          };
  },
};
