/**
 * The binrepos.conf stanza that points portage at a farm binhost (portage's
 * binrepos.conf(5): a section per binary repository with `priority`, `sync-uri`, `location`,
 * `verify-signature`). Portage's own default binrepos.conf sets `verify-signature = true` in
 * [DEFAULT]; farm packages are usually unsigned, so the stanza always says what it wants.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { BinhostSettings } from "./meta.js";

/** `base` is where the coordinator's HTTP server is reachable, e.g. `http://farm:9464`. */
export function renderBinreposConf(name: string, base: string, settings: BinhostSettings): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", `binhost base URL "${base}" is not a URL`, { cause: err });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new StagefarmError("invalid_argument", `binhost base URL "${base}" must be http:// or https://`);
  if (url.search !== "" || url.hash !== "")
    throw new StagefarmError(
      "invalid_argument",
      `binhost base URL "${base}" must not have a query or fragment`,
    );
  const root = url.href.replace(/\/+$/, "");
  const lines = [
    `[${name}]`,
    `priority = ${settings.priority}`,
    `sync-uri = ${root}/binhost/${name}`,
    `verify-signature = ${settings.verifySignature ? "true" : "false"}`,
    ...(settings.location === undefined ? [] : [`location = ${settings.location}`]),
  ];
  return `${lines.join("\n")}\n`;
}
