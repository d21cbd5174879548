/**
 * Names of protobuf enum values for people and JSON output, from the generated enum descriptors
 * (protoc-gen-es `…Schema`), so a value added to a .proto needs no list kept by hand:
 * `STAGE_STATE_TIMED_OUT` (number 4) is "timed_out".
 */
import type { DescEnum } from "@bufbuild/protobuf";

/** The lowercase name of value `n` without the enum's prefix; "unspecified" for an unknown number. */
export function enumValueName(schema: DescEnum, n: number): string {
  return (schema.value[n]?.localName ?? "UNSPECIFIED").toLowerCase();
}

/** The number of the value named `name` as {@link enumValueName} spells it; 0 (unspecified) when unknown. */
export function enumValueNumber(schema: DescEnum, name: string): number {
  return schema.values.find((v) => v.localName.toLowerCase() === name)?.number ?? 0;
}
