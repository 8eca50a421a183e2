/**
 * Child-process script for worker-model.test.ts: generates on a worker-thread model, disposes it
 * and lets the process end by itself. Prints "disposed" once dispose resolved; exits 0 unless
 * the process ended first (code 13: unsettled top-level await) or llama.cpp was torn down with
 * the thread (SIGABRT).
 */
import { createLlamaCppWorkerModel } from '../../src/models/llama-cpp/worker-model.js';

const model = createLlamaCppWorkerModel({
  modelPath: process.argv[2]!,
  contextSize: 256,
  threads: 1,
  gpu: false,
});
await model.doGenerate({
  prompt: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
  maxOutputTokens: 3,
});
await model.dispose();
console.log('disposed');
