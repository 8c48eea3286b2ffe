/**
 * Cursor pagination as an async iterator (`for await (const s of Sandbox.list())`).
 * @module
 */

/** One page and the cursor of the next (undefined on the last). */
export interface Page<T> {
  items: T[];
  next: string | undefined;
}

/** Iterates every item over all pages, fetching lazily; `nextPage()` for manual paging. */
export class Paginator<T> implements AsyncIterable<T> {
  private cursor: string | undefined;
  private started = false;

  /** @internal */
  constructor(private readonly fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {}

  /** Whether another page may follow. */
  get hasNext(): boolean {
    return !this.started || this.cursor !== undefined;
  }

  /** The next page's items (empty once past the last). */
  async nextPage(): Promise<T[]> {
    if (!this.hasNext) return [];
    const page = await this.fetchPage(this.cursor);
    this.started = true;
    this.cursor = page.next;
    return page.items;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (this.hasNext) {
      for (const item of await this.nextPage()) yield item;
    }
  }

  /** Every item of every page. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this) out.push(item);
    return out;
  }
}
