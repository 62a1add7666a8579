import { BUILTIN_KINDS } from '../config/schema.js';
import type { Executor } from './executor.js';

const registered = new Map<string, Executor>();

/**
 * Registers an executor for a custom target kind, for every UserSyncService in this process
 * (a service's own `registerExecutor` takes precedence). Built-in kinds cannot be replaced.
 */
export function registerExecutor(kind: string, executor: Executor): void {
  if ((BUILTIN_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`registerExecutor: "${kind}" is a built-in kind and cannot be replaced`);
  }
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(kind)) {
    throw new Error(
      `registerExecutor: kind "${kind}" must be a lowercase name (letters, digits, "_" or "-")`,
    );
  }
  if (typeof executor?.execute !== 'function')
    throw new Error('registerExecutor: executor must have an execute() method');
  registered.set(kind, executor);
}

/** The executor registered for a custom kind, if any. */
export function registeredExecutor(kind: string): Executor | undefined {
  return registered.get(kind);
}

/** Forgets a registration (tests). */
export function unregisterExecutor(kind: string): void {
  registered.delete(kind);
}
