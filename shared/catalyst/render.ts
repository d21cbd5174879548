/**
 * A releng spec template made into the spec Catalyst runs: placeholders substituted
 * (./template.ts), then the stage's overrides applied (./overrides.ts), then parsed with
 * Catalyst's syntax (./spec.ts) so the caller can read the settings that decide the layout.
 */
import { applySpecOverrides, type SpecOverrides } from "./overrides.js";
import { parseSpec, specSettings, type SpecDocument, type SpecValue } from "./spec.js";
import { renderTemplate, type TemplateVars } from "./template.js";

export interface RenderSpecInput {
  /** The template text (from the releng checkout, after the pipeline's edits). */
  template: string;
  /** Names the template in messages (`file:line:col`). */
  file: string;
  vars: TemplateVars;
  overrides?: SpecOverrides;
}

export interface RenderedSpec {
  text: string;
  doc: SpecDocument;
  settings: Map<string, SpecValue>;
}

export function renderSpec(input: RenderSpecInput): RenderedSpec {
  const substituted = renderTemplate(input.template, input.vars, input.file);
  const text = applySpecOverrides(substituted, input.overrides ?? {}, input.file);
  const doc = parseSpec(text, input.file);
  return { text, doc, settings: specSettings(doc) };
}
