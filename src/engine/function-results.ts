import { invalid } from '../protocol/errors.js';
import type { Step } from '../protocol/types.js';

/**
 * §6.3: every `function_result` in the new input must answer a `function_call` of the
 * conversation exactly once (matched by `call_id`, name consistent), and when the previous
 * interaction stopped with `requires_action`, every one of its calls must be answered.
 */
export function checkFunctionResults(
  history: Step[],
  input: Step[],
  pendingFromPrevious: Step[] | undefined,
): void {
  const calls = new Map<string, string>(); // call id → function name
  const answered = new Set<string>();
  const note = (step: Step) => {
    if (step.type === 'function_call') calls.set(step.id, step.name);
    if (step.type === 'function_result') answered.add(step.call_id);
  };
  history.forEach(note);

  input.forEach((step, i) => {
    if (step.type === 'function_result') {
      const name = calls.get(step.call_id);
      if (name === undefined) {
        throw invalid(
          `input[${i}].call_id: no function_call with id '${step.call_id}' in this conversation`,
        );
      }
      if (answered.has(step.call_id)) {
        throw invalid(`input[${i}].call_id: function_call '${step.call_id}' is already answered`);
      }
      if (step.name !== undefined && step.name !== name) {
        throw invalid(
          `input[${i}].name: '${step.name}' does not match the call's function '${name}'`,
        );
      }
    }
    note(step);
  });

  for (const step of pendingFromPrevious ?? []) {
    if (step.type === 'function_call' && !answered.has(step.id)) {
      throw invalid(`input: missing function_result for call_id '${step.id}'`);
    }
  }
}
