/**
 * The farm binhost inside the embedded farm: the BinhostService (the single writer, also given
 * to the Coordinator), and the local agent's client calling it directly (no bus hop).
 *
 * Base URL of the binrepos.conf: `stagefarm up` serves the binhosts on its HTTP server and
 * calls `serveAt(url)`; without it (`stagefarm run`), a loopback-only server for /binhost/ is
 * started on a free port the first time a stage asks for a binrepos.conf, and closed with the
 * farm. Chroot stages share the host's network, so 127.0.0.1 reaches it from inside as well.
 */
import { FarmBinhostClient, type BinhostClient, type BinhostTransport } from "../agent/index.js";
import { BinhostService, startBinhostServer, type BinhostServerHandle } from "../coordinator/index.js";
import type { Logger } from "../shared/log.js";
import type { ArtifactStore } from "../shared/store/index.js";

export function directBinhostTransport(service: BinhostService): BinhostTransport {
  return {
    publish: (req, signal) =>
      service.publish(req.binhost, req.packages, {
        ...(signal === undefined ? {} : { signal }),
        ...(req.profile === undefined ? {} : { profile: req.profile }),
      }),
    conf: (name, baseUrl) => service.binreposConf(name, baseUrl),
  };
}

export class EmbeddedBinhost {
  readonly service: BinhostService;
  #url: string | undefined;
  #server: Promise<BinhostServerHandle> | undefined;
  #closed: Promise<void> | undefined;

  constructor(
    private readonly store: ArtifactStore,
    private readonly logger: Logger,
  ) {
    this.service = new BinhostService({ store, logger });
  }

  /** The HTTP base URL serving this farm's binhosts (`stagefarm up`). */
  serveAt(url: string): void {
    this.#url = url;
  }

  async baseUrl(): Promise<string> {
    if (this.#url !== undefined) return this.#url;
    this.#server ??= startBinhostServer({ store: this.store, logger: this.logger });
    const server = await this.#server;
    return server.url;
  }

  client(agentId: string): BinhostClient {
    return new FarmBinhostClient({
      transport: directBinhostTransport(this.service),
      baseUrl: () => this.baseUrl(),
      agentId,
    });
  }

  async close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.service.close();
      const server = this.#server;
      if (server !== undefined) await (await server).close();
    })();
    return this.#closed;
  }
}
