/**
 * Parsing of S3 store URLs: the accepted forms, the refused ones (each with a message naming
 * what is wrong), and that no message or description ever shows the secret.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeS3, maskS3Url, parseS3Url, type S3Config } from "../../shared/config/s3-url.js";
import { StagefarmError } from "../../shared/errors.js";

const SECRET = "s3cr3t-Value";

function refused(url: string, ...mentions: string[]): StagefarmError {
  let caught: unknown;
  try {
    parseS3Url(url);
  } catch (err: unknown) {
    caught = err;
  }
  assert.ok(caught instanceof StagefarmError, `${url} should be refused with a StagefarmError`);
  assert.equal(caught.code, "invalid_argument");
  for (const m of mentions)
    assert.ok(caught.message.includes(m), `"${caught.message}" should mention "${m}"`);
  return caught;
}

void describe("parseS3Url", () => {
  void test("the plain form, with the defaults", () => {
    assert.deepEqual(parseS3Url(`http://AKID:${SECRET}@minio.lan:9000/builds`), {
      endPoint: "minio.lan",
      port: 9000,
      useSSL: false,
      accessKey: "AKID",
      secretKey: SECRET,
      bucket: "builds",
      prefix: "",
      region: "us-east-1",
    } satisfies S3Config);
  });

  void test("https, default ports, prefixes, region and trailing slashes", () => {
    const a = parseS3Url(
      `https://AKID:${SECRET}@s3.example.org/farm-artifacts/gentoo/amd64/?region=eu-west-3`,
    );
    assert.deepEqual(
      { useSSL: a.useSSL, port: a.port, bucket: a.bucket, prefix: a.prefix, region: a.region },
      { useSSL: true, port: 443, bucket: "farm-artifacts", prefix: "gentoo/amd64", region: "eu-west-3" },
    );
    assert.equal(parseS3Url(`http://A:${SECRET}@h/bkt`).port, 80);
    assert.equal(parseS3Url(`http://A:${SECRET}@h/bkt/`).prefix, "");
    const v6 = parseS3Url(`http://A:${SECRET}@[::1]:9000/bkt`);
    assert.equal(v6.endPoint, "::1");
    assert.equal(describeS3(v6), "s3://[::1]:9000/bkt");
    assert.equal(parseS3Url(`  http://A:${SECRET}@127.0.0.1:4568/b-1.x  `).bucket, "b-1.x");
  });

  void test("access key and secret are percent-decoded", () => {
    const cfg = parseS3Url("http://ak%3Aid:se%2Fcr%40et%23%25@host:9000/bucket");
    assert.equal(cfg.accessKey, "ak:id");
    assert.equal(cfg.secretKey, "se/cr@et#%");
    assert.equal(parseS3Url("http://a:b%20c@h/bkt/my%20prefix").prefix, "my prefix");
  });

  void test("describeS3 names the place without credentials", () => {
    const cfg = parseS3Url(`http://AKID:${SECRET}@minio.lan:9000/builds/x/y`);
    assert.equal(describeS3(cfg), "s3://minio.lan:9000/builds/x/y");
    assert.equal(describeS3({ ...cfg, prefix: "" }), "s3://minio.lan:9000/builds");
  });

  void test("malformed URLs are refused, saying what is wrong", () => {
    refused("minio.lan:9000/builds", "scheme must be http or https");
    refused("not a url", "not a valid URL");
    refused(`s3://A:${SECRET}@h/bkt`, 'scheme must be http or https, not "s3"');
    refused(`ftp://A:${SECRET}@h/bkt`, "scheme");
    refused("http://h:9000/bkt", "access key is missing");
    refused("http://AKID@h:9000/bkt", "secret key is missing");
    refused("http://AKID:@h:9000/bkt", "secret key is missing");
    refused(`http://A:${SECRET}@h:9000`, "bucket is missing");
    refused(`http://A:${SECRET}@h:9000/`, "bucket is missing");
    refused(`http://A:${SECRET}@h:9000/Bad_Bucket`, 'bucket name "Bad_Bucket"');
    refused(`http://A:${SECRET}@h:9000/ab`, 'bucket name "ab"');
    refused(`http://A:${SECRET}@h:9000/a..b`, "bucket name");
    refused(`http://A:${SECRET}@h:9000/bkt//x`, "empty, '.' or '..' segments");
    refused(`http://A:${SECRET}@h:9000/bkt/../other`, "'.' and '..'");
    refused(`http://A:${SECRET}@h:9000/bkt/%2E%2E/x`, "'.' and '..'");
    refused(`http://A:${SECRET}@h:9000/bkt/a%2F..`, "'..' segments");
    refused(`http://A:${SECRET}@h:0/bkt`, "port");
    refused(`http://A:${SECRET}@h:99999/bkt`, "not a valid URL");
    refused(`http://A:${SECRET}@h/bkt?regoin=x`, 'unknown query parameter "regoin"');
    refused(`http://A:${SECRET}@h/bkt?region=`, "region");
    refused(`http://A:${SECRET}@h/bkt?region=a b`, "region");
    refused(`http://A:${SECRET}@h/bkt#frag`, "fragment");
  });

  void test("no refusal shows the secret, however the URL is broken", () => {
    const cases = [
      `s3://AKID:${SECRET}@h/bkt`,
      `http://AKID:${SECRET}@h:9000`,
      `http://AKID:${SECRET}@h:9000/Bad_Bucket`,
      `http://AKID:${SECRET}@h:notaport/bkt`,
      `http://AKID:${SECRET}@h/bkt?foo=1`,
      `http://AKID:${SECRET}#x@h/bkt`, // unencoded '#' in the secret: not a valid URL
      `http://AKID:${SECRET}/x@h/bkt`, // unencoded '/' in the secret
      `http://AKID:${SECRET}%ZZ@h/bkt`, // invalid percent-encoding in the secret
      `http://AKID:${SECRET}@/bkt`, // no host
    ];
    for (const url of cases) {
      const err = refused(url);
      const shown = `${err.message} ${JSON.stringify(err.details)}`;
      assert.ok(!shown.includes(SECRET), `the secret leaked for ${url}: ${shown}`);
      assert.ok(shown.includes("AKID:***") || shown.includes("***"), `the mask is shown: ${shown}`);
    }
    assert.ok(
      refused(`http://AKID:${SECRET}%ZZ@h/bkt`).message.includes("secret key is not valid percent-encoding"),
    );
  });
});

void describe("maskS3Url", () => {
  void test("hides the secret and keeps the rest", () => {
    assert.equal(maskS3Url(`http://AKID:${SECRET}@h:9000/bkt`), "http://AKID:***@h:9000/bkt");
    assert.equal(maskS3Url(`http://AKID:${SECRET}@x@h/bkt`), "http://AKID:***@h/bkt");
    assert.equal(maskS3Url("http://h:9000/bkt"), "http://h:9000/bkt");
    assert.equal(maskS3Url("http://onlyuser@h/bkt"), "http://***@h/bkt");
    assert.equal(maskS3Url(`AKID:${SECRET}@h/bkt`), "***");
  });
});
