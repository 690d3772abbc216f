// Verbatim from the seed /work/shared/seeds/000_3562b50539bd2c1f.txt (ABV webhooks, "Verify webhook
// signatures in Node.js"): everything below this comment is the seed's code, unchanged.
// server.ts imports it as './verify-signature', as the seed's usage does.
import crypto from "crypto";

export function verifyABVSignature(
  rawBody: string,
  signatureHeader: string,
  secret: string
): boolean {
  // Parse header: "t=timestamp,s=signature"
  const [tsPair, sigPair] = signatureHeader.split(",");
  if (!tsPair || !sigPair) return false;

  const timestamp = tsPair.split("=")[1];
  const receivedSig = sigPair.split("=")[1];

  // Recreate signature
  const expectedSig = crypto
    .createHmac("sha256", secret)
    .update(`${timestamp}.${rawBody}`, "utf8")
    .digest("hex");

  // Constant-time comparison
  try {
    return crypto.timingSafeEqual(
      Buffer.from(receivedSig, "hex"),
      Buffer.from(expectedSig, "hex")
    );
  } catch {
    return false;  // receivedSig not valid hex
  }
}
