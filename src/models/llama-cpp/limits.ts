/**
 * Concurrency defaults of a llama-cpp model, shared by the model (worker thread) and its
 * admission on the server's thread, which must not load node-llama-cpp to know them.
 */
export const DEFAULT_MAX_SEQUENCES = 2;
export const DEFAULT_MAX_QUEUE = 16;
