/** The StagefarmError ↔ gRPC status mapping, both ways, for every error code and every status. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status as Status } from "@grpc/grpc-js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import { PipelineError, type PipelineIssue } from "../../shared/pipeline/index.js";
import {
  ERROR_CODE_TRAILER,
  errorCodeForStatus,
  fromGrpcStatus,
  grpcStatusFor,
  toGrpcStatus,
  TransportError,
} from "../../shared/grpc/index.js";
import { AuthError } from "../../shared/grpc/index.js";
import { MAX_MESSAGE_CHARS } from "../../shared/grpc/testing.js";

/** The documented table (shared/grpc/status.ts). `satisfies` fails to compile when a code is added. */
const expected = {
  invalid_pipeline: Status.INVALID_ARGUMENT,
  invalid_argument: Status.INVALID_ARGUMENT,
  unsafe_archive: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  corrupt_artifact: Status.DATA_LOSS,
  digest_mismatch: Status.DATA_LOSS,
  stage_failed: Status.FAILED_PRECONDITION,
  missing_output: Status.FAILED_PRECONDITION,
  timeout: Status.DEADLINE_EXCEEDED,
  cancelled: Status.CANCELLED,
  unavailable: Status.UNAVAILABLE,
  conflict: Status.ABORTED,
  unauthenticated: Status.UNAUTHENTICATED,
  permission_denied: Status.PERMISSION_DENIED,
  internal: Status.INTERNAL,
} satisfies Record<ErrorCode, Status>;

const codes = Object.keys(expected) as ErrorCode[];
const statuses = Object.values(Status).filter((v): v is Status => typeof v === "number");

function issue(line: number, message: string): PipelineIssue {
  return { pos: { file: "pipelines/demo/pipeline.yaml", line, col: 3 }, message };
}

describe("error code → gRPC status", () => {
  for (const code of codes) {
    test(`${code} → ${Status[expected[code]]}`, () => {
      assert.equal(grpcStatusFor(code), expected[code]);
    });
  }
});

describe("round trip through the trailer restores the exact code", () => {
  for (const code of codes.filter((c) => c !== "internal")) {
    test(code, () => {
      const err = new StagefarmError(code, `stage build: something about ${code}`, {
        details: { stage: "build", exitCode: 2 },
      });
      const s = toGrpcStatus(err);
      assert.equal(s.code, expected[code]);
      assert.deepEqual(s.metadata.get(ERROR_CODE_TRAILER), [code]);
      const back = fromGrpcStatus(s, "somewhere");
      assert.ok(back instanceof StagefarmError);
      assert.equal(back.code, code);
      // The server's message arrives as it was, without the client's `where`.
      assert.equal(back.message, err.message);
      assert.deepEqual(back.details, { stage: "build", exitCode: 2, grpcStatus: Status[expected[code]] });
      // The server answered: not a status grpc-js made itself; a refused call is an AuthError again.
      assert.equal(back instanceof TransportError, false);
      assert.equal(back instanceof AuthError, code === "unauthenticated" || code === "permission_denied");
    });
  }
});

describe("gRPC status without the trailer → error code", () => {
  test("every status maps to a code, and codes map back to the status they came from", () => {
    for (const s of statuses) {
      const code = errorCodeForStatus(s);
      assert.ok(code in expected, `${Status[s]} maps to ${code}`);
      // Statuses that some code produces come back as a code producing that same status.
      if (codes.some((c) => expected[c] === s)) assert.equal(grpcStatusFor(code), s, Status[s]);
    }
  });

  test("statuses grpc-js makes itself", () => {
    assert.equal(errorCodeForStatus(Status.DEADLINE_EXCEEDED), "timeout");
    assert.equal(errorCodeForStatus(Status.CANCELLED), "cancelled");
    assert.equal(errorCodeForStatus(Status.UNAVAILABLE), "unavailable");
    assert.equal(errorCodeForStatus(Status.UNIMPLEMENTED), "internal");
    assert.equal(errorCodeForStatus(Status.RESOURCE_EXHAUSTED), "unavailable");
  });

  test("the client's context is added to the message and the status is named", () => {
    const err = fromGrpcStatus(
      { code: Status.UNAVAILABLE, details: "No connection established", metadata: new Metadata() },
      "stagefarm.v1.StagefarmService/GetRun at 127.0.0.1:9",
    );
    assert.equal(err.code, "unavailable");
    assert.equal(
      err.message,
      "No connection established (stagefarm.v1.StagefarmService/GetRun at 127.0.0.1:9)",
    );
    assert.equal(err.details.grpcStatus, "UNAVAILABLE");
    assert.equal(err.retryable, true);
    assert.ok(err instanceof TransportError, "made by grpc-js, not sent by a server");
  });

  test("UNAUTHENTICATED and PERMISSION_DENIED without the trailer are AuthErrors with their own codes", () => {
    for (const [status, code] of [
      [Status.UNAUTHENTICATED, "unauthenticated"],
      [Status.PERMISSION_DENIED, "permission_denied"],
    ] as const) {
      const err = fromGrpcStatus({ code: status, details: "refused", metadata: new Metadata() });
      assert.ok(err instanceof AuthError, Status[status]);
      assert.equal(err.code, code);
      assert.equal(err.retryable, false);
    }
  });

  test("an unknown code in the trailer is ignored", () => {
    const md = new Metadata();
    md.set(ERROR_CODE_TRAILER, "bogus");
    const err = fromGrpcStatus({ code: Status.NOT_FOUND, details: "run r1 not found", metadata: md });
    assert.equal(err.code, "not_found");
  });

  test("a status number outside the enum becomes internal", () => {
    assert.equal(fromGrpcStatus({ code: 99, details: "strange" }).code, "internal");
  });
});

describe("internal errors leak nothing", () => {
  const cases: Array<[string, unknown]> = [
    ["a plain Error", new Error("password=hunter2 in /srv/secret/config.yaml")],
    ["a StagefarmError internal", new StagefarmError("internal", "password=hunter2 in /srv/secret")],
    ["a thrown string", "password=hunter2"],
  ];
  for (const [name, thrown] of cases) {
    test(name, () => {
      const seen: Array<{ ref: string; err: unknown }> = [];
      const s = toGrpcStatus(thrown, { onInternal: (ref, err) => seen.push({ ref, err }) });
      assert.equal(s.code, Status.INTERNAL);
      assert.doesNotMatch(s.details, /hunter2|secret|at .*\.js/);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.err, thrown);
      assert.match(s.details, new RegExp(`reference ${seen[0]?.ref ?? "?"}`));
      const back = fromGrpcStatus(s);
      assert.equal(back.code, "internal");
      assert.deepEqual(back.details, { grpcStatus: "INTERNAL" });
    });
  }
});

describe("pipeline issues", () => {
  test("come back as a PipelineError with the same issues and message", () => {
    const err = new PipelineError([
      issue(7, "unknown key 'scirpt' (did you mean 'script'?)"),
      issue(3, "bad"),
    ]);
    const s = toGrpcStatus(err);
    assert.equal(s.code, Status.INVALID_ARGUMENT);
    const back = fromGrpcStatus(s);
    assert.ok(back instanceof PipelineError);
    assert.equal(back.code, "invalid_pipeline");
    assert.deepEqual(back.issues, err.issues);
    assert.equal(back.message, err.message);
  });

  test("too many to send are cut, saying how many more there were", () => {
    const many = Array.from({ length: 2000 }, (_, i) =>
      issue(i + 1, `problem number ${i + 1} in this stage`),
    );
    const s = toGrpcStatus(new PipelineError(many));
    const back = fromGrpcStatus(s);
    assert.ok(back instanceof PipelineError);
    assert.ok(back.issues.length < many.length);
    const note = back.issues.find((i) => /more issues not sent/.test(i.message));
    assert.ok(note, "a note says issues were left out");
    const sent = back.issues.length - 1;
    assert.equal(note.message, `and ${many.length - sent} more issues not sent`);
    assert.ok(s.details.length <= MAX_MESSAGE_CHARS + 100);
  });
});

describe("messages", () => {
  test("a long message is cut and says so", () => {
    const s = toGrpcStatus(new StagefarmError("stage_failed", "x".repeat(MAX_MESSAGE_CHARS * 3)));
    assert.match(s.details, new RegExp(`… \\(${MAX_MESSAGE_CHARS * 2} more characters not sent\\)$`));
  });

  test("a surrogate pair is never cut in two and lone surrogates are replaced", () => {
    const msg = "a".repeat(MAX_MESSAGE_CHARS - 1) + "😀" + "tail";
    const s = toGrpcStatus(new StagefarmError("not_found", msg));
    assert.doesNotThrow(() => encodeURI(s.details));
    const lone = toGrpcStatus(new StagefarmError("not_found", "bad \ud800 name"));
    assert.equal(lone.details, "bad \ufffd name");
  });

  test("details that do not serialise or fit are left out, the rest is kept", () => {
    const err = new StagefarmError("stage_failed", "stage build failed", {
      details: { exitCode: 2, size: 10n, logTail: "y".repeat(10_000), logPath: "logs/r1/build/1.log" },
    });
    const back = fromGrpcStatus(toGrpcStatus(err));
    assert.deepEqual(back.details, {
      exitCode: 2,
      logPath: "logs/r1/build/1.log",
      grpcStatus: "FAILED_PRECONDITION",
    });
  });
});
