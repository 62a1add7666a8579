/**
 * Redis round trips as a client sees them: every command any ioredis client of this process
 * sends is counted, by command or Lua script name (user-sync's scripts by their export name,
 * BullMQ's by the name it defined them under). A command sent alone is one round trip; a
 * pipeline or MULTI, one. (The server's own count, scripts' inner commands included, comes from
 * INFO commandstats: see `storeCommandCalls` in store.ts.)
 */
import { Redis } from 'ioredis';
import { SCRIPT_NAMES } from '../../src/jobs/scripts.js';

export interface RedisTally {
  roundTrips: number;
  commands: number;
  byName: Map<string, number>;
}

function newTally(): RedisTally {
  return { roundTrips: 0, commands: 0, byName: new Map() };
}

let tally = newTally();
let installed = false;
const scriptNames = new Map<string, string>(SCRIPT_NAMES);
const pipelinesSeen = new WeakSet<object>();

function scriptName(client: unknown, sha: string): string {
  let name = scriptNames.get(sha);
  if (name === undefined) {
    const defined = (client as { scriptsSet?: Record<string, { sha?: string }> }).scriptsSet ?? {};
    for (const [defName, script] of Object.entries(defined)) {
      if (script.sha) scriptNames.set(script.sha, defName.replace(/-\d+$/, ''));
    }
    name = scriptNames.get(sha) ?? `script ${sha.slice(0, 8)}`;
  }
  return name;
}

/** Starts counting (once per process); `take` returns the count so far and starts afresh. */
export function redisTally(): { take: () => RedisTally } {
  if (!installed) {
    installed = true;
    // Wrapped, then called with the client as `this`: an unbound method on purpose.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const original = Redis.prototype.sendCommand;
    Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
      const [command, stream] = args;
      const pipeline = (stream as { isPipeline?: boolean } | undefined)?.isPipeline
        ? (stream as object)
        : undefined;
      if (!pipeline) tally.roundTrips++;
      else if (!pipelinesSeen.has(pipeline)) {
        pipelinesSeen.add(pipeline);
        tally.roundTrips++;
      }
      let name = command.name.toLowerCase();
      if (name === 'evalsha') name = scriptName(this, String(command.args[0]));
      if (name !== 'multi' && name !== 'exec') tally.commands++;
      tally.byName.set(name, (tally.byName.get(name) ?? 0) + 1);
      return original.apply(this, args);
    };
  }
  return {
    take: () => {
      const taken = tally;
      tally = newTally();
      return taken;
    },
  };
}
