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

/** The one logger factory. Components take a child of it (`logger.child({ component })`). */
export function createLogger(options: LoggerOptions = {}): Logger {
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
