import Transport from 'winston-transport';
import winston from 'winston';

/** A winston logger that keeps every entry, to check what is (not) logged. */
export function capturingLogger() {
  const entries: Array<Record<string, unknown>> = [];
  class Capture extends Transport {
    override log(info: Record<string, unknown>, next: () => void) {
      entries.push(info);
      next();
    }
  }
  return { entries, logger: winston.createLogger({ level: 'debug', transports: [new Capture()] }) };
}
