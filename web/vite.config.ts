/**
 * Builds the dashboard (web/) into dist/web/, which the coordinator serves under /ui/
 * (coordinator/dashboard/static-files.ts). Everything the page loads is in that directory: no
 * CDN, no outside fetch. `npm run build` type-checks (tsc -p web) and then runs this.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the page works under /ui/ and behind a proxy that adds a prefix.
  base: "./",
  logLevel: "warn",
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  worker: { format: "es" },
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // The graph layout library is the largest part; one chunk loads faster than many here.
    chunkSizeWarningLimit: 800,
  },
});
