/**
 * Where an offset of a text in shell syntax sits: inside a plain double-quoted string, or
 * anywhere else (unquoted, single quotes, a comment, a command substitution, `${…}`).
 *
 * A small lexer of the bash quoting rules, enough to decide whether a param's value placed at
 * that offset stays one inert string: inside `"…"` (and not inside a `$(…)`, backticks or a
 * `${…}` in it) bash expands only `$`, backticks and `\`, and ends the string at `"`; a value
 * without those characters and without control characters is literal there. portage reads
 * make.conf with the same double-quote rules (shlex plus its own `${VAR}` expansion).
 *
 * It errs on the side of "elsewhere": text it does not model (here-documents, `case` patterns)
 * may read as unquoted, which makes the caller refuse a template that might have been safe,
 * never accept one that is not.
 */
type Frame = "top" | "dq" | "sub" | "paren" | "bt" | "param";

/** Characters after which `#` starts a comment (a word boundary). */
const WORD_BREAK = /[\s;&|()<>]/;

export type QuoteContext = "double" | "elsewhere";

/** The quoting context at `offset` of `text` (bash syntax). */
export function shellQuoteAt(text: string, offset: number): QuoteContext {
  const stack: Frame[] = ["top"];
  const top = (): Frame => stack[stack.length - 1] ?? "top";
  let i = 0;
  while (i < offset) {
    const c = text[i];
    const next = text[i + 1];
    const frame = top();
    if (c === "\\") {
      i += 2;
      continue;
    }
    if (frame === "dq") {
      if (c === '"') stack.pop();
      else if (c === "`") stack.push("bt");
      else if (c === "$" && (next === "(" || next === "{")) {
        stack.push(next === "(" ? "sub" : "param");
        i++;
      }
      i++;
      continue;
    }
    // Unquoted text: the top level, a command substitution, backticks, `${…}`.
    if (c === "'" || (c === "$" && next === "'")) {
      const ansi = c === "$";
      let j = ansi ? i + 2 : i + 1;
      while (j < text.length && text[j] !== "'") j += ansi && text[j] === "\\" ? 2 : 1;
      if (j >= offset) return "elsewhere";
      i = j + 1;
      continue;
    }
    if (c === "#" && frame !== "param" && (i === 0 || WORD_BREAK.test(text[i - 1] ?? " "))) {
      const nl = text.indexOf("\n", i);
      if (nl < 0 || nl >= offset) return "elsewhere";
      i = nl + 1;
      continue;
    }
    if (c === '"') stack.push("dq");
    else if (c === "$" && (next === "(" || next === "{")) {
      stack.push(next === "(" ? "sub" : "param");
      i++;
    } else if (c === "`") {
      if (frame === "bt") stack.pop();
      else stack.push("bt");
    } else if (c === "(") stack.push("paren");
    else if (c === ")" && (frame === "sub" || frame === "paren")) stack.pop();
    else if (c === "}" && frame === "param") stack.pop();
    i++;
  }
  return i === offset && top() === "dq" ? "double" : "elsewhere";
}
