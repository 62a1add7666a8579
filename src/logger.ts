import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** winston level; default `info`, or `LOG_LEVEL` from the environment. */
  level?: string;
  /** `json` (default when stdout is not a terminal or NODE_ENV=production) or `pretty`. */
  format?: 'json' | 'pretty';
  /** Silence all output (tests). */
  silent?: boolean;
}

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
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.colorize(),
          winston.format.printf(({ timestamp, level, message, ...meta }) => {
            const rest = Object.entries(meta)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${level} ${String(message)}${rest ? ' ' + rest : ''}`;
          }),
        )
      : winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}
