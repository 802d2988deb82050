/** An in-process StateClient with first-write and etag semantics, for unit tests of pure logic. */
import type { StateClient } from "../host/idempotency.ts";

type Value = Parameters<StateClient["write"]>[1];

export class MemoryState implements StateClient {
  readonly entries = new Map<string, { value: Value; etag: string }>();
  private version = 0;

  async tryWrite(key: string, value: Value, etag?: string): Promise<boolean> {
    const current = this.entries.get(key);
    if (etag === undefined ? current !== undefined : current?.etag !== etag) return false;
    this.entries.set(key, { value, etag: String(++this.version) });
    return true;
  }

  async read(key: string) {
    return this.entries.get(key);
  }

  async write(key: string, value: Value): Promise<void> {
    this.entries.set(key, { value, etag: String(++this.version) });
  }

  async remove(key: string): Promise<void> {
    this.entries.delete(key);
  }
}
