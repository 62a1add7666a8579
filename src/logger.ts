import winston from 'winston';
import { redactValue } from './redact.js';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** winston level; default `info`, or `LOG_LEVEL` from the environment. */
  level?: string;
  /** `json` (default when stdout is not a terminal or NODE_ENV=production) or `pretty`. */
  format?: 'json' | 'pretty';
  /** Silence all output (tests). */
  silent?: boolean;
  /** Where lines go. Default: the console (stdout; `warn` and `error` on stderr). */
  transports?: winston.transport[];
}

/**
 * The first format of every logger: the message and every field of a line (nested ones too,
 * within the bounds of `REDACT_LIMITS`) through `redactValue`, so that no line carries a
 * credential in a URL, whoever logged it and however. Fields are copied, never changed where
 * the caller holds them.
 */
export const redactFormat = winston.format((info) => {
  // `logger.error(error)` logs the error itself: a copy shows its (not enumerable) message.
  const line = info instanceof Error ? { ...info, message: info.message } : info;
  for (const key of Object.keys(line)) line[key] = redactValue(line[key]);
  return line;
});

/**
 * winston formats every line, whatever its level, and leaves the level to each transport: a
 * line below the active level would still be copied (for a child's fields), redacted,
 * timestamped and serialised, then dropped. This puts the level check first, on the logger and
 * on each child: a line below the level costs the call and one comparison.
 */
function gateByLevel(logger: Logger): Logger {
  const below = (self: Logger, info: unknown): boolean => {
    const level = typeof info === 'object' && info !== null ? (info as { level?: unknown }).level : undefined;
    return typeof level === 'string' && (self.silent || !self.isLevelEnabled(level));
  };
  const write = logger.write.bind(logger) as (info: unknown) => boolean;
  logger.write = function (this: Logger, info: unknown): boolean {
    return below(this, info) || write(info);
  } as Logger['write'];
  // winston's child (Object.create with a `write` that copies the child's fields into each line),
  // with the level checked before the copy. Children of children inherit this `child`.
  const childOf = (parent: Logger, meta: object): Logger =>
    Object.create(parent, {
      write: {
        value(this: Logger, info: unknown): boolean {
          if (below(this, info)) return true;
          const line = Object.assign({}, meta, info) as Record<string, unknown>;
          if (info instanceof Error) {
            line.stack = info.stack;
            line.message = info.message;
            line.cause = info.cause;
          }
          return parent.write(line);
        },
      },
    }) as Logger;
  logger.child = function (this: Logger, meta: object): Logger {
    return childOf(this, meta);
  };
  return logger;
}

/** The one logger factory. Components take a child of it (`logger.child({ component })`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return gateByLevel(makeLogger(options));
}

function makeLogger(options: LoggerOptions): Logger {
  const pretty =
    options.format === 'pretty' ||
    (options.format === undefined && process.stdout.isTTY === true && process.env.NODE_ENV !== 'production');
  return winston.createLogger({
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    silent: options.silent ?? process.env.USER_SYNC_SILENT === '1',
    format: pretty
      ? winston.format.combine(
          redactFormat(),
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.colorize(),
          winston.format.printf(({ timestamp, level, message, ...meta }) => {
            const rest = Object.entries(meta)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${level} ${String(message)}${rest ? ' ' + rest : ''}`;
          }),
        )
      : winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: options.transports ?? [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}
