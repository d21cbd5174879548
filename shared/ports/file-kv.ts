/**
 * The {@link KvStore} kept in a file: the in-process store (./memory-kv.ts, its semantics and
 * revisions) with every write journaled to disk before the call resolves, so a process that
 * opens the same file again (after a clean stop, a crash or SIGKILL) finds every key it was
 * told was written, at its revision. `stagefarm up` keeps its run documents and dispatch
 * records in one, next to its store.
 *
 * File format: JSON lines. `{"r":N}` (first line of a compacted file) is the revision counter;
 * `{"r":N,"k":KEY,"v":BASE64}` a put, `{"r":N,"k":KEY}` a delete, applied in file order. Writes
 * are appended and fdatasync'ed in batches (the calls waiting on one flush share it). On open,
 * and whenever the journal holds four times more than the live entries (plus 1 MiB), the file
 * is rewritten as a snapshot of the live entries (temp file, fsync, rename). A snapshot keeps
 * no tombstones: after a reopen a deleted key is as if never written (only a conditional write
 * naming a deleted key's revision could tell, and no caller keeps a revision across restarts).
 * A torn last line (a crash mid-append) was never acknowledged and is dropped.
 *
 * One process at a time: the caller holds a lock on the file's directory (`stagefarm up` does).
 */
import { mkdir, open, rename, type FileHandle } from "node:fs/promises";
import { dirname, join, basename } from "node:path";
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import type { KvChange, KvEntry } from "./kv.js";
import { MemoryKvStore } from "./memory-kv.js";

const lineSchema = z.object({
  r: z.number().int().nonnegative(),
  k: z.string().optional(),
  v: z.string().optional(),
});

const COMPACT_MIN_BYTES = 1 << 20;

export class FileKvStore extends MemoryKvStore {
  readonly #file: string;
  #fh: FileHandle;
  readonly #live: Map<string, KvEntry>;
  #pending: string[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #failed: StagefarmError | undefined;
  #journalBytes: number;
  #revisionSeen: number;

  private constructor(
    file: string,
    fh: FileHandle,
    live: Map<string, KvEntry>,
    revision: number,
    bytes: number,
  ) {
    super({ entries: live, revision });
    this.#file = file;
    this.#fh = fh;
    this.#live = live;
    this.#revisionSeen = revision;
    this.#journalBytes = bytes;
  }

  /** Opens (or creates, with its directory) the store in `file`, compacting it. */
  static async open(file: string): Promise<FileKvStore> {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const { live, revision } = await readJournal(file);
    const bytes = await writeSnapshot(file, live, revision);
    const fh = await open(file, "a").catch((err: unknown) => {
      throw new StagefarmError("unavailable", `cannot open the state file ${file}`, { cause: err });
    });
    return new FileKvStore(file, fh, live, revision, bytes);
  }

  override async get(key: string): Promise<KvEntry | undefined> {
    this.#check();
    return super.get(key);
  }

  override async create(key: string, value: Uint8Array): Promise<number> {
    this.#check();
    const r = await super.create(key, value);
    await this.#flush();
    return r;
  }

  override async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    this.#check();
    const r = await super.update(key, value, expectedRevision);
    await this.#flush();
    return r;
  }

  override async put(key: string, value: Uint8Array): Promise<number> {
    this.#check();
    const r = await super.put(key, value);
    await this.#flush();
    return r;
  }

  override async delete(key: string, expectedRevision?: number): Promise<void> {
    this.#check();
    await super.delete(key, expectedRevision);
    await this.#flush();
  }

  /** Ends watches, then waits for the journal's last flush and closes the file. Idempotent. */
  override async close(): Promise<void> {
    await super.close();
    await this.#flushing;
    await this.#fh.close().catch(() => undefined);
  }

  protected override written(change: KvChange): void {
    this.#revisionSeen = change.revision;
    if (change.op === "put") {
      this.#live.set(change.key, { value: change.value.slice(), revision: change.revision });
      this.#pending.push(lineOf(change.revision, change.key, change.value));
    } else {
      this.#live.delete(change.key);
      this.#pending.push(lineOf(change.revision, change.key));
    }
  }

  /** A failed journal write leaves memory ahead of the disk: the store refuses from then on. */
  #check(): void {
    if (this.#failed !== undefined) throw this.#failed;
  }

  /** Appends what is pending (with every write before it) and syncs; resolves once on disk. */
  #flush(): Promise<void> {
    const run = async (): Promise<void> => {
      this.#check();
      if (this.#pending.length === 0) return;
      const text = this.#pending.join("");
      this.#pending = [];
      try {
        await this.#fh.write(text);
        await this.#fh.datasync();
        this.#journalBytes += Buffer.byteLength(text);
        await this.#compactIfLarge();
      } catch (err: unknown) {
        this.#failed ??= new StagefarmError("unavailable", `cannot write the state file ${this.#file}`, {
          cause: err,
        });
        throw this.#failed;
      }
    };
    const p = this.#flushing.then(run);
    this.#flushing = p.catch(() => undefined);
    return p;
  }

  async #compactIfLarge(): Promise<void> {
    let liveBytes = 0;
    for (const [k, e] of this.#live) liveBytes += k.length + e.value.length * 1.4 + 32;
    if (this.#journalBytes < COMPACT_MIN_BYTES + 4 * liveBytes) return;
    await this.#fh.close();
    this.#journalBytes = await writeSnapshot(this.#file, this.#live, this.#revisionSeen);
    this.#fh = await open(this.#file, "a");
  }
}

function lineOf(r: number, k?: string, v?: Uint8Array): string {
  return `${JSON.stringify({ r, ...(k === undefined ? {} : { k }), ...(v === undefined ? {} : { v: Buffer.from(v).toString("base64") }) })}\n`;
}

async function readJournal(file: string): Promise<{ live: Map<string, KvEntry>; revision: number }> {
  const live = new Map<string, KvEntry>();
  let revision = 0;
  let text: string;
  try {
    const fh = await open(file, "r");
    try {
      text = await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch (err: unknown) {
    if (err instanceof Error && "code" in err && err.code === "ENOENT") return { live, revision };
    throw new StagefarmError("unavailable", `cannot read the state file ${file}`, { cause: err });
  }
  const lines = text.split("\n");
  // Everything after the last newline is a torn append: never acknowledged.
  lines.pop();
  lines.forEach((line, i) => {
    let parsed: z.infer<typeof lineSchema>;
    try {
      parsed = lineSchema.parse(JSON.parse(line));
    } catch (err: unknown) {
      throw new StagefarmError("internal", `state file ${file} line ${i + 1} is unreadable`, { cause: err });
    }
    revision = Math.max(revision, parsed.r);
    if (parsed.k === undefined) return;
    if (parsed.v === undefined) live.delete(parsed.k);
    else live.set(parsed.k, { value: new Uint8Array(Buffer.from(parsed.v, "base64")), revision: parsed.r });
  });
  return { live, revision };
}

/** Writes the live entries as the new file (atomically); returns its size. */
async function writeSnapshot(file: string, live: Map<string, KvEntry>, revision: number): Promise<number> {
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  const parts = [lineOf(revision)];
  for (const [k, e] of [...live].sort(([, a], [, b]) => a.revision - b.revision))
    parts.push(lineOf(e.revision, k, e.value));
  const text = parts.join("");
  try {
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.write(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const dir = await open(dirname(file), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err: unknown) {
    throw new StagefarmError("unavailable", `cannot write the state file ${file}`, { cause: err });
  }
  return Buffer.byteLength(text);
}
