/**
 * Group commit for calls to a remote store: items submitted while a batch is
 * in flight travel together in the next one. An idle caller waits for nothing
 * (its item leaves at once, in a batch of one); a busy one pays one request
 * per batch instead of one per item.
 *
 * With `keyOf`, two items of the same key never travel in the same batch nor
 * in two batches at once, so whatever the store does within a batch, items of
 * one key arrive in the order they were submitted.
 */

/** What became of one item of a batch. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface CoalescerOptions<T> {
  /** Items per batch at most. */
  maxBatch: number;
  /** Batches in flight at once at most. */
  maxInFlight: number;
  keyOf?: (item: T) => string;
}

interface Pending<T, R> {
  item: T;
  key: string | undefined;
  resolve(value: R): void;
  reject(error: unknown): void;
}

export class Coalescer<T, R> {
  private queue: Pending<T, R>[] = [];
  private inFlight = 0;
  private readonly keysInFlight = new Set<string>();
  private scheduled = false;

  /** `send` answers one outcome per item, in the order given; a throw fails the whole batch. */
  constructor(
    private readonly send: (items: T[]) => Promise<Outcome<R>[]>,
    private readonly options: CoalescerOptions<T>,
  ) {}

  /** Items waiting for a batch (for metrics). */
  get waiting(): number {
    return this.queue.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, key: this.options.keyOf?.(item), resolve, reject });
      // Items submitted in the same tick go together even when nothing is in flight.
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      if (batch.length === 0) return; // every waiting item's key is in flight
      this.inFlight++;
      void this.dispatch(batch).finally(() => {
        this.inFlight--;
        for (const p of batch) if (p.key !== undefined) this.keysInFlight.delete(p.key);
        this.flush();
      });
    }
  }

  /** The next batch: the oldest items, skipping (and keeping in place) those whose key is taken. */
  private take(): Pending<T, R>[] {
    const batch: Pending<T, R>[] = [];
    const rest: Pending<T, R>[] = [];
    for (const p of this.queue) {
      if (batch.length < this.options.maxBatch && (p.key === undefined || !this.keysInFlight.has(p.key))) {
        if (p.key !== undefined) this.keysInFlight.add(p.key);
        batch.push(p);
      } else {
        rest.push(p);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async dispatch(batch: Pending<T, R>[]): Promise<void> {
    let outcomes: Outcome<R>[];
    try {
      outcomes = await this.send(batch.map((p) => p.item));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (!outcome) p.reject(new Error("the batch answered no outcome for this item"));
      else if (outcome.ok) p.resolve(outcome.value);
      else p.reject(outcome.error);
    });
  }
}
