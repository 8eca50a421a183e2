/** Request fields a get echoes on the resource when they were set (spec Q-10). */
export const ECHOED_REQUEST_FIELDS = [
  'system_instruction',
  'tools',
  'generation_config',
  'agent_config',
  'response_format',
  'response_mime_type',
  'response_modalities',
  'safety_settings',
  'labels',
  'webhook_config',
  'environment',
  'cached_content',
] as const;
