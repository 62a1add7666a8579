/**
 * Child processes of the benchmarks (the receiver, the workers, the profiled publisher) and how
 * the measuring process talks to them: request/reply over Node's IPC channel, plus events the
 * child pushes (progress). Measuring, receiving and working in separate processes keeps one
 * side's event loop from slowing the other's figures.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Request {
  id: number;
  method: string;
  params: unknown;
}
type Reply = { id: number; result: unknown } | { id: number; error: string };
interface Pushed {
  event: string;
  data: unknown;
}

/** A child process serving `call`s; `on` receives what it pushes. */
export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, Array<(data: unknown) => void>>();
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly process: ChildProcess,
  ) {
    this.exit = new Promise((resolve) => process.once('exit', () => resolve()));
    process.on('message', (message: Reply | Pushed) => {
      if ('event' in message) {
        for (const listener of this.listeners.get(message.event) ?? []) listener(message.data);
        return;
      }
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if ('error' in message) waiting.reject(new Error(`${name}: ${message.error}`));
      else waiting.resolve(message.result);
    });
    process.once('exit', (code, signal) => {
      this.exited = true;
      for (const { reject } of this.pending.values()) {
        reject(new Error(`${name} exited (${signal ?? code}) before answering`));
      }
      this.pending.clear();
    });
    // A benchmark that dies must not leave its children behind.
    const kill = () => process.kill('SIGKILL');
    globalThis.process.once('exit', kill);
    process.once('exit', () => globalThis.process.off('exit', kill));
  }

  /**
   * Starts `bench/children/<script>.js` (compiled next to this file's folder) with IPC.
   * `execArgv` adds Node flags (e.g. --cpu-prof).
   */
  static async start(script: string, options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}) {
    const file = fileURLToPath(new URL(`../children/${script}.js`, import.meta.url));
    const child = fork(file, [], {
      execArgv: options.execArgv ?? [],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const handle = new Child(script, child);
    await handle.call('ping');
    return handle;
  }

  call<T = unknown>(method: string, params: unknown = null): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.process.send({ id, method, params } satisfies Request);
    });
  }

  on(event: string, listener: (data: unknown) => void): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return () =>
      this.listeners.set(
        event,
        (this.listeners.get(event) ?? []).filter((l) => l !== listener),
      );
  }

  /** Asks the child to exit (so that --cpu-prof writes its profile), SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    if (this.exited) return;
    this.process.send({ id: 0, method: 'exit', params: null } satisfies Request);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), ms);
    await this.exit;
    clearTimeout(timer);
  }
}

/** In a child: answers the parent's calls with `handlers`; `exit` ends the process. */
export function serve(handlers: Record<string, (params: never) => unknown>): void {
  const send = (message: Reply | Pushed) => process.send?.(message);
  process.on('message', (message: Request) => {
    if (message.method === 'exit') {
      void Promise.resolve(handlers.exit?.(null as never)).finally(() => process.exit(0));
      return;
    }
    if (message.method === 'ping') return send({ id: message.id, result: 'pong' });
    const handler = handlers[message.method];
    if (!handler) return send({ id: message.id, error: `no method ${message.method}` });
    Promise.resolve()
      .then(() => handler(message.params as never))
      .then(
        (result) => send({ id: message.id, result: result ?? null }),
        (error: unknown) => send({ id: message.id, error: (error as Error).message ?? String(error) }),
      );
  });
  // The parent gone: nothing left to serve.
  process.on('disconnect', () => process.exit(0));
}

/** In a child: pushes an event to the parent. */
export function push(event: string, data: unknown): void {
  process.send?.({ event, data } satisfies Pushed);
}

/** Milliseconds on a clock every process of the machine shares (sub-millisecond resolution). */
export function nowAbs(): number {
  return performance.timeOrigin + performance.now();
}
