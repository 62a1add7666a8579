/**
 * A logger made by user-sync's own `createLogger` (its formats included, redaction first) that
 * keeps every line it writes, as the JSON it would print, for tests that check what is logged.
 */
import Transport from 'winston-transport';
import { createLogger, type Logger } from '../../src/logger.js';

export interface CapturedLogger {
  logger: Logger;
  /** Every line, parsed back from the JSON written. */
  entries: Array<Record<string, unknown>>;
  /** Every line as written. */
  lines: string[];
}

export function captureLogger(level = 'debug'): CapturedLogger {
  const entries: Array<Record<string, unknown>> = [];
  const lines: string[] = [];
  class Capture extends Transport {
    override log(info: Record<string | symbol, unknown>, next: () => void) {
      const line = String(info[Symbol.for('message')]);
      lines.push(line);
      entries.push(JSON.parse(line) as Record<string, unknown>);
      next();
    }
  }
  const logger = createLogger({ level, format: 'json', silent: false, transports: [new Capture()] });
  return { logger, entries, lines };
}
