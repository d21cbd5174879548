/**
 * The template context (shared/pipeline/template-context.ts) of every `with` field, by runner:
 * which fields become code (templates refused), which are written into line-based or
 * shell-syntax config files (values checked for that format), and which are data.
 *
 *   emerge   configs[].make_conf, env.d files, portage env/ files, bashrc, make.defaults and
 *            any file of unknown format: shell-dq; package.* / use.* / packages / parent /
 *            repos.conf and the like: line; emerge[].command: code; the rest (args, env, paths,
 *            binhost) is data: passed as argv words, environment variables or quoted words.
 *   chroot   shell: code (it runs the script); resolv_conf.content: line; the rest: paths.
 *   catalyst releng_edits[] text (content, append, replace[].to, replace_line[].with): code (a
 *            releng file may be a script); overrides: line (Catalyst specs are `key: value`
 *            lines); catalyst_conf.envscript: code (Catalyst sources it); the rest of
 *            catalyst_conf is data (written as TOML by smol-toml, which quotes every string).
 */
import { DATA, type TemplateContext } from "../pipeline/template-context.js";
import type { RunnerKind } from "../pipeline/index.js";

type Path = ReadonlyArray<string | number>;

/** Line-based portage files, by a path component: package.use, use.mask, repos.conf/…, parent. */
const LINE_COMPONENT =
  /^(package\..*|use\..*|packages(\.build)?|parent|eapi|categories|virtuals|mirrors|thirdpartymirrors|repos\.conf|binrepos\.conf|sets\.conf|sets)$/;

/** The context of a file written under etc/portage (`rel` relative to it). */
export function portageFileContext(rel: string): TemplateContext {
  const what = `etc/portage/${rel}`;
  if (rel.split("/").some((c) => LINE_COMPONENT.test(c))) return { t: "line", what };
  return { t: "shell-dq", what };
}

const PACKAGE_FILES: Readonly<Record<string, string>> = {
  package_use: "package.use",
  package_mask: "package.mask",
  package_unmask: "package.unmask",
  package_accept_keywords: "package.accept_keywords",
  package_license: "package.license",
  package_env: "package.env",
};

function emergeContext(path: Path): TemplateContext {
  const [top, , key, sub, file] = path;
  if (top === "emerge" && key === "command")
    return {
      t: "code",
      what: "with.emerge[].command (the program to run)",
      instead: "write the program literally and give what varies as args or env",
    };
  if (top === "env_d" && typeof path[1] === "string") return { t: "shell-dq", what: `etc/env.d/${path[1]}` };
  if (top !== "configs" || typeof key !== "string") return DATA;
  if (key === "make_conf") return { t: "shell-dq", what: "etc/portage/make.conf" };
  const pkg = PACKAGE_FILES[key];
  if (pkg !== undefined) return { t: "line", what: `etc/portage/${pkg}` };
  if ((key === "env" || key === "profile") && typeof sub === "string")
    return portageFileContext(`${key}/${sub}`);
  if (key === "files" && typeof sub === "string") return portageFileContext(sub);
  if (key === "make_profile" && sub === "files" && typeof file === "string")
    return portageFileContext(`make.profile/${file}`);
  return DATA;
}

function chrootContext(path: Path): TemplateContext {
  if (path.length === 1 && path[0] === "shell")
    return {
      t: "code",
      what: "with.shell (the shell that runs the script)",
      instead: "write the path literally",
    };
  if (path[0] === "resolv_conf" && path[1] === "content") return { t: "line", what: "resolv.conf" };
  return DATA;
}

const EDIT_TEXT = new Set(["content", "append", "to", "with"]);

function catalystContext(path: Path): TemplateContext {
  const [top, key] = path;
  const last = path[path.length - 1];
  if (top === "releng_edits" && typeof last === "string" && EDIT_TEXT.has(last) && path.length >= 3)
    return {
      t: "code",
      what: "a releng edit (text written into a releng file, which may be a script)",
      instead: "set spec values with with.overrides, or write the edit literally",
    };
  if (top === "overrides") return { t: "line", what: `the spec's "${String(key)}"` };
  if (top === "catalyst_conf" && key === "envscript")
    return {
      t: "code",
      what: "catalyst_conf.envscript (a script Catalyst sources)",
      instead: "write the path literally",
    };
  return DATA;
}

const BY_RUNNER: Partial<Record<RunnerKind, (path: Path) => TemplateContext>> = {
  emerge: emergeContext,
  chroot: chrootContext,
  catalyst: catalystContext,
};

/** The template context of the `with` value at `path` of a `runner` stage. */
export function withTemplateContext(runner: RunnerKind, path: Path): TemplateContext {
  return BY_RUNNER[runner]?.(path) ?? DATA;
}
