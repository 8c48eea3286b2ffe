import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fileSignature, sha256 } from "../src/sha256.js";

describe("sha256", () => {
  for (const len of [0, 1, 55, 56, 63, 64, 65, 1000]) {
    it(`matches_node_crypto_for_${len}_bytes`, () => {
      const data = new Uint8Array(len).map((_, i) => (i * 31 + 7) & 0xff);
      expect(Buffer.from(sha256(data)).toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    });
  }

  it("file_signature_is_v1_base64_without_padding", () => {
    const raw = "/home/user/a.txt:read:user:tok:1700000000";
    const want = "v1_" + createHash("sha256").update(raw).digest("base64").replace(/=+$/, "");
    expect(fileSignature("/home/user/a.txt", "read", "user", "tok", 1700000000)).toBe(want);
  });
});
