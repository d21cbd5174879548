/**
 * A server-sent events stream that survives a coordinator restart. The browser's EventSource
 * reconnects by itself after a dropped connection (sending `Last-Event-ID`); when it gives up
 * (the server answered an error, e.g. while restarting) this opens a new one after a backoff,
 * passing the last id as `?lastEventId=`. The status tells the page what to show: `live`, or
 * `reconnecting` while there is no connection.
 */
export type LiveStatus = "connecting" | "live" | "reconnecting";

export type LiveHandlers = Record<string, (data: unknown, id: string) => void>;

export class LiveStream {
  private es: EventSource | undefined;
  private lastId = "";
  private retries = 0;
  private timer: number | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly handlers: LiveHandlers,
    private readonly onStatus: (s: LiveStatus) => void,
    /** Asked before reopening a stream the server refused: false stops for good. */
    private readonly shouldRetry: () => Promise<boolean> = () => Promise.resolve(true),
  ) {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const u = new URL(this.url, location.href);
    if (this.lastId !== "") u.searchParams.set("lastEventId", this.lastId);
    const es = new EventSource(u);
    this.es = es;
    this.onStatus(this.retries === 0 ? "connecting" : "reconnecting");
    es.onopen = () => {
      this.retries = 0;
      this.onStatus("live");
    };
    es.onerror = () => {
      if (this.closed) return;
      this.onStatus("reconnecting");
      if (es.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      es.close();
      this.retries++;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(this.retries, 5));
      this.timer = window.setTimeout(() => {
        this.shouldRetry().then(
          (again) => (again ? this.open() : this.close()),
          () => this.open(),
        );
      }, delay);
    };
    for (const [name, fn] of Object.entries(this.handlers))
      es.addEventListener(name, (ev) => {
        const m = ev as MessageEvent<string>;
        if (m.lastEventId !== "") this.lastId = m.lastEventId;
        let data: unknown;
        try {
          data = JSON.parse(m.data) as unknown;
        } catch {
          return;
        }
        fn(data, m.lastEventId);
      });
  }

  /** Forgets the resume point: the next connection starts with a fresh snapshot. */
  reset(): void {
    this.lastId = "";
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) window.clearTimeout(this.timer);
    this.es?.close();
  }
}
