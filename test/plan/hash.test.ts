import { describe, expect, it } from "vitest";
import { listDigest, stableJson } from "../../src/render/hash";

describe("stableJson", () => {
  it("is independent of key order and drops undefined members", () => {
    expect(stableJson({ b: 1, a: { d: [1, 2], c: "x" }, z: undefined })).toBe('{"a":{"c":"x","d":[1,2]},"b":1}');
    expect(stableJson({ a: { c: "x", d: [1, 2] }, b: 1 })).toBe(stableJson({ b: 1, a: { d: [1, 2], c: "x" } }));
  });

  it("digests long lists, and the digest follows their content", () => {
    const long = Array.from({ length: 1000 }, (_, i) => `10.0.${i % 256}.0/24#${i}`);
    const text = stableJson({ list: long });
    expect(text).toBe(`{"list":"sha256:${listDigest(long)}"}`);
    expect(stableJson({ list: [...long] })).toBe(text);
    expect(stableJson({ list: [...long.slice(1), "x"] })).not.toBe(text);
  });
});
