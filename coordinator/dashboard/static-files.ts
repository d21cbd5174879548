/**
 * Serves the built dashboard (`npm run build` puts the Vite output in dist/web/) under `/ui/`.
 * Only files found in that directory when first asked are served, by exact path: nothing
 * outside it can be named. Hashed assets (`/ui/assets/…`) are cached for good, the rest is
 * revalidated. Pages carry a Content-Security-Policy that allows nothing but this origin (no
 * inline scripts, no outside fetch), so even markup that slipped through escaping cannot run.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the Vite build lands, relative to this module in dist/. */
export const DEFAULT_STATIC_DIR = fileURLToPath(new URL("../../web/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

interface StaticFile {
  file: string;
  type: string;
  size: number;
  immutable: boolean;
}

async function walk(dir: string, root: string, out: Map<string, StaticFile>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const abs = join(dir, entry.name);
    if (entry.isDirectory()) await walk(abs, root, out);
    else if (entry.isFile()) {
      const rel = relative(root, abs).split(sep).join("/");
      const type = TYPES[extname(entry.name).toLowerCase()];
      if (type === undefined) continue;
      out.set(rel, { file: abs, type, size: (await stat(abs)).size, immutable: rel.startsWith("assets/") });
    }
  }
}

export class StaticFiles {
  private files: Promise<Map<string, StaticFile>> | undefined;

  constructor(readonly dir: string = DEFAULT_STATIC_DIR) {}

  private index(): Promise<Map<string, StaticFile>> {
    this.files ??= (async () => {
      const out = new Map<string, StaticFile>();
      try {
        await walk(this.dir, this.dir, out);
      } catch {
        // Not built: every path answers the "not built" page (and the next request looks again).
        this.files = undefined;
      }
      return out;
    })();
    return this.files;
  }

  /** Serves `rel` (the path below /ui/; "" is the page). */
  async serve(req: IncomingMessage, res: ServerResponse, rel: string): Promise<void> {
    const files = await this.index();
    const f = files.get(rel === "" ? "index.html" : rel);
    const common = {
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    };
    if (f === undefined) {
      const built = files.has("index.html");
      res.writeHead(built ? 404 : 503, { ...common, "content-type": "text/plain; charset=utf-8" });
      res.end(built ? "not found\n" : "the dashboard is not built: run `npm run build`\n");
      return;
    }
    res.writeHead(200, {
      ...common,
      "content-type": f.type,
      "content-length": String(f.size),
      "cache-control": f.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      ...(f.type.startsWith("text/html") ? { "content-security-policy": CONTENT_SECURITY_POLICY } : {}),
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const s = createReadStream(f.file);
      s.once("error", reject);
      res.once("close", () => {
        s.destroy();
        resolve();
      });
      s.pipe(res);
    });
  }
}
