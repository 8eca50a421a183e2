/** The API versions every route is served under (the SDK 3.x default is v1). */
export const API_VERSIONS = ['v1', 'v1beta'] as const;
