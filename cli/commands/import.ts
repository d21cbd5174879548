/**
 * `stagefarm import FILE…`: stores local files (a seed tarball, a releng or live-bootstrap
 * checkout, a distfile) in the artifact store and prints each sha256 digest, the value a
 * pipeline's `artifact:` input takes as a param (`--param seed=<digest>`). The embedded store
 * by default; the farm's S3 store with `--s3` (or STAGEFARM_S3_URL). The file is hashed while
 * it is stored; importing the same bytes again stores nothing new.
 */
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { parseS3Url } from "../../shared/config/s3-url.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { CliContext } from "../context.js";
import { envOption } from "../options.js";
import { makeStyle } from "../output.js";
import { humanBytes } from "../../shared/util/bytes.js";

export function registerImport(program: Command, ctx: CliContext): void {
  program
    .command("import")
    .description("store local files in the artifact store and print their digests (for artifact: inputs)")
    .argument("<files...>", "files to import (e.g. stage3-bootstrap.tar.xz)")
    .addOption(
      envOption(
        "--s3 <url>",
        "import into the farm's S3 store (default: the local store)",
        "STAGEFARM_S3_URL",
      ),
    )
    .option("--json", "print one JSON object per file")
    .action(async (files: string[], opts: { s3?: string; json?: boolean }) => {
      for (const file of files) {
        const st = await stat(file).catch((err: unknown) => {
          throw new StagefarmError("not_found", `cannot import ${file}: no such file`, { cause: err });
        });
        if (!st.isFile())
          throw new StagefarmError("invalid_argument", `cannot import ${file}: not a regular file`);
      }
      const { FsArtifactStore, openS3Store } = await import("../../shared/store/index.js");
      const s3 = opts.s3;
      const store: ArtifactStore =
        s3 !== undefined && s3 !== ""
          ? await openS3Store(parseS3Url(s3))
          : await FsArtifactStore.open(ctx.config().storeDir);
      try {
        const c = makeStyle(ctx.color(ctx.stdout));
        for (const file of files) {
          const blob = await store.putBlobFile(file);
          if (opts.json === true)
            ctx.stdout.write(
              `${JSON.stringify({ file, digest: blob.digest, size: blob.size, store: store.describe })}\n`,
            );
          else
            ctx.stdout.write(
              `${blob.digest}  ${file} ${c.dim(`(${humanBytes(blob.size)}, ${store.describe})`)}\n`,
            );
        }
        if (opts.json !== true)
          ctx.stderr.write(
            c.dim("pass a digest to a pipeline's artifact input, e.g. --param seed=<digest>\n"),
          );
      } finally {
        await store.close();
      }
    });
}
