export {
  pullModel,
  hashFile,
  sha256FromEtag,
  fileNameFromUrl,
  PullError,
  type PullModelOptions,
  type PullModelResult,
  type ProgressCallback,
} from './pull.js';
export {
  DEFAULT_MODEL,
  DEFAULT_HF_ENDPOINT,
  resolveModelRef,
  defaultModelsDir,
  listModels,
  ensureDefaultModel,
  howToGetAModel,
  ModelNotAvailableError,
  type DefaultModelInfo,
  type ResolvedModelRef,
  type LocalModel,
  type EnsureDefaultModelOptions,
} from './models.js';
export {
  createProgressBar,
  formatBytes,
  type ProgressBar,
  type ProgressBarOptions,
} from './progress.js';
