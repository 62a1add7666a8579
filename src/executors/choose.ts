/**
 * Which executor delivers to a target: one of the service's own (by kind), else the built-in
 * http or redis executor (one per kind, shared by every target of that kind, closed on
 * close()), the subscriber for `handler` targets, else one registered globally with
 * `registerExecutor`.
 */
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Executor } from './executor.js';
import type { UserEventSubscriber } from './handler.js';
import { createHttpExecutor } from './http/executor.js';
import { canReadState } from './http/state.js';
import { createRedisExecutor } from './redis/executor.js';
import { registeredExecutor } from './registry.js';

export interface ExecutorSources {
  /** Handlers for `handler` targets. */
  subscriber?: UserEventSubscriber | undefined;
  /** Executors for custom kinds, for this deployment only (they win over `registerExecutor`). */
  executors?: Record<string, Executor> | undefined;
}

export class Executors {
  private readonly own = new Map<string, Executor>();
  private readonly builtins = new Map<string, Executor>();

  constructor(
    private readonly config: SyncConfig,
    private readonly sources: ExecutorSources = {},
  ) {
    for (const [kind, executor] of Object.entries(sources.executors ?? {})) this.own.set(kind, executor);
  }

  /** Registers an executor for a custom kind, for this deployment. */
  register(kind: string, executor: Executor): void {
    this.own.set(kind, executor);
  }

  /** The executor of a target. Throws a ConfigError naming the target's kind when there is none. */
  forTarget(target: TargetConfig): Executor {
    const own = this.own.get(target.kind);
    if (own) return own;
    const field = `targets[${this.config.targets.indexOf(target)}].kind`;
    switch (target.kind) {
      case 'http':
      case 'redis':
        return this.builtin(target.kind);
      case 'handler':
        if (!this.sources.subscriber) {
          throw new ConfigError(field, 'is "handler" but no subscriber was given to UserSyncService');
        }
        return this.sources.subscriber;
      default: {
        const registered = registeredExecutor(target.kind);
        if (!registered) {
          throw new ConfigError(
            field,
            `no executor is registered for kind "${target.kind}" (registerExecutor)`,
          );
        }
        return registered;
      }
    }
  }

  /** The executor that can read a target's state, if any: redis natively, http with `state`, custom with readState. */
  stateReader(target: TargetConfig): Executor | undefined {
    if (target.kind === 'handler' || (target.kind === 'http' && !canReadState(target))) return undefined;
    try {
      const executor = this.forTarget(target);
      return executor.readState ? executor : undefined;
    } catch {
      return undefined;
    }
  }

  /** Closes the built-in executors opened so far (their connections); they reopen on next use. */
  async close(): Promise<void> {
    const open = [...this.builtins.values()];
    this.builtins.clear();
    await Promise.all(open.map(async (e) => e.close?.()));
  }

  private builtin(kind: 'http' | 'redis'): Executor {
    let executor = this.builtins.get(kind);
    if (!executor) {
      executor =
        kind === 'http'
          ? createHttpExecutor({
              retryAfterMaxMs: this.config.retryAfterMax,
              maxResponseBytes: this.config.maxResponseBytes,
              maxStateResponseBytes: this.config.maxStateResponseBytes,
            })
          : createRedisExecutor({ tombstoneTtlMs: this.config.tombstoneTtl });
      this.builtins.set(kind, executor);
    }
    return executor;
  }
}
