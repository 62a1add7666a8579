import { toError } from './errors.js';

/**
 * Calls that arrive together, sent together. Each `call(item)` joins the batch being gathered;
 * the batch goes out as one `run(items)` once the event loop has handled the I/O that arrived
 * with it (`setImmediate`), or at once when it holds `max` items. A busy worker gets many
 * replies in one read of its socket, and every delivery they start or end asks in the same turn
 * of the loop: one round trip serves them all. An idle one sends each call alone, a moment later.
 *
 * `run` answers each item by its index. If it fails, every call of the batch fails with its error.
 */
export class Batcher<I, O> {
  private pending: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly max = 64,
  ) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`max must be a whole number >= 1, got ${max}`);
  }

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.max) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let sent: Promise<O[]>;
    try {
      sent = this.run(batch.map((b) => b.item));
    } catch (error) {
      sent = Promise.reject(toError(error));
    }
    sent.then(
      (results) => {
        if (results.length !== batch.length) {
          const error = new Error(`batch of ${batch.length} answered with ${results.length} results`);
          for (const b of batch) b.reject(error);
          return;
        }
        batch.forEach((b, i) => b.resolve(results[i] as O));
      },
      (error: unknown) => {
        for (const b of batch) b.reject(error);
      },
    );
  }
}
