/**
 * Where a `${{ params.NAME }}` template sits decides what its value may be: params never become
 * code. Every string of a pipeline has one of these contexts:
 *
 * - `data`: the value is handed over as data (an environment variable, an argv word, a path or
 *   URL checked by its own rule, a TOML or JSON value serialised with quoting). Any value.
 * - `code`: the text is executed or names what executes (a stage script, the program an emerge
 *   invocation runs, a file of unknown format). Templates are refused when the pipeline is
 *   parsed, at the template's file:line:col, saying how to pass the value as data instead.
 * - `line`: the text is a line-based config file (package.use, resolv.conf, a Catalyst spec
 *   value): a value must be one line without control characters, or it would add entries.
 * - `shell-dq`: the text is read with shell syntax (make.conf, env.d, portage env files,
 *   bashrc): a template must sit inside double quotes (checked at parse time), and a value may
 *   not hold `"`, `\`, `$`, a backtick or a control character (checked once params are applied),
 *   so it stays one inert string whether the file is parsed by portage or sourced by bash.
 *
 * The contexts of runner `with` fields are in shared/runner-config/template-contexts.ts; the
 * parse-time check is ./check-template-contexts.ts, the value check runs in ./resolve.ts.
 */
export type TemplateContext =
  | { t: "data" }
  | {
      t: "code";
      /** What the text is, for the message: "a script", "the program to run", … */
      what: string;
      /** How to pass the value instead (a sentence); absent: through `env:` (a script). */
      instead?: string;
    }
  | { t: "line"; what: string }
  | { t: "shell-dq"; what: string };

export const DATA: TemplateContext = { t: "data" };

/**
 * Environment variables whose value is code to bash or the dynamic loader before a line of the
 * script runs (a file to source, shell options, a prompt expanded by `set -x`, libraries to
 * load): a param there would run whatever it names.
 */
const CODE_ENV: ReadonlySet<string> = new Set([
  "BASH_ENV",
  "ENV",
  "SHELLOPTS",
  "BASHOPTS",
  "PS4",
  "PROMPT_COMMAND",
  "LD_PRELOAD",
  "LD_AUDIT",
  "LD_LIBRARY_PATH",
  "GCONV_PATH",
]);

/** The context of an `env` value: data, but for the variables in {@link CODE_ENV}. */
export function envContext(name: string): TemplateContext {
  if (!CODE_ENV.has(name)) return DATA;
  return {
    t: "code",
    what: `env ${name} (bash or the dynamic loader reads it as code)`,
    instead: "set it literally",
  };
}

/** The param's name as an environment variable name (`live-bootstrap` → `LIVE_BOOTSTRAP`). */
export function envNameFor(param: string): string {
  const name = param.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
  return /^[0-9]/.test(name) ? `P_${name}` : name;
}

/** A stage's `script`, whatever its runner. */
export const SCRIPT: TemplateContext = { t: "code", what: "a script" };

/** The message refusing `ref` (e.g. `${{ params.greeting }}`, naming `param`) in a code context. */
export function codeRefusal(
  ctx: Extract<TemplateContext, { t: "code" }>,
  ref: string,
  param: string | undefined,
): string {
  if (ctx.instead !== undefined) return `${ref} in ${ctx.what} would become code; ${ctx.instead}`;
  const name = envNameFor(param ?? "value");
  return (
    `${ref} inside ${ctx.what} would become shell code; pass it as data: ` +
    `env: { ${name}: "${ref}" } and use "$${name}" in the script`
  );
}

/** The first control character of `s` (NUL, newline, tab, escape, DEL, C1, line separators), named. */
function controlIn(s: string): string | undefined {
  let c: string | undefined;
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) {
      c = ch;
      break;
    }
  }
  if (c === undefined) return undefined;
  return c === "\n"
    ? "a newline"
    : c === "\r"
      ? "a carriage return"
      : c === "\t"
        ? "a tab"
        : `the control character ${JSON.stringify(c)}`;
}

/** Why `value` cannot be substituted into a text of context `ctx` (undefined: it can). */
export function templateValueProblem(ctx: TemplateContext, value: string): string | undefined {
  switch (ctx.t) {
    case "data":
      return value.includes("\0") ? "its value holds a NUL byte" : undefined;
    case "code":
      return `${ctx.what} takes no params`;
    case "line": {
      const c = controlIn(value);
      return c === undefined
        ? undefined
        : `its value holds ${c} (${ctx.what} is line-based: a value must be one line)`;
    }
    case "shell-dq": {
      const c = controlIn(value);
      const bad = c ?? /["\\$`]/.exec(value)?.[0] ?? undefined;
      if (bad === undefined) return undefined;
      return (
        `its value holds ${c ?? `'${bad}'`} (${ctx.what} is read with shell syntax: ` +
        'a value inside its double quotes may not hold ", \\, $, ` or control characters)'
      );
    }
  }
}
