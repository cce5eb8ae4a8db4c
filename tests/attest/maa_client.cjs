// Drives Microsoft's JavaScript SDK (@azure/attestation) against a pydcap attestation service, with the SDK's
// token validation on (its default), and prints what it saw as one JSON object.
// Usage: node maa_client.cjs MODULES_DIR ENDPOINT QUOTE_B64 RUNTIME_B64 OE_REPORT_B64
"use strict";
const path = require("path");
const [modules, endpoint, quote, runtime, report] = process.argv.slice(2);
const { AttestationClient } = require(path.join(modules, "node_modules", "@azure", "attestation"));

const bytes = (b64) => new Uint8Array(Buffer.from(b64, "base64"));
const b64 = (data) => (data ? Buffer.from(data).toString("base64") : null);
const summary = (result) => ({
  issuer: result.body.issuer,
  mrEnclave: result.body.mrEnclave,
  mrSigner: result.body.mrSigner,
  productId: result.body.productId,
  svn: result.body.svn,
  enclaveHeldData: b64(result.body.enclaveHeldData),
  keyId: result.token.keyId,
  algorithm: result.token.algorithm,
});

(async () => {
  const client = new AttestationClient(endpoint);
  const sgx = await client.attestSgxEnclave(bytes(quote), { runTimeData: bytes(runtime) });
  const oe = await client.attestOpenEnclave(bytes(report), { runTimeData: bytes(runtime) });
  const signers = await client.getAttestationSigners();
  const openid = await client.getOpenIdMetadata();
  // The SDK's validation runs: told to expect another issuer, it refuses the same service's token.
  let refused = null;
  try {
    const strict = new AttestationClient(endpoint, {
      validationOptions: { validateToken: true, validateIssuer: true, expectedIssuer: "https://not-this-issuer" },
    });
    await strict.attestSgxEnclave(bytes(quote), { runTimeData: bytes(runtime) });
  } catch (e) {
    refused = String(e.message);
  }
  console.log(JSON.stringify({ sgx: summary(sgx), oe: summary(oe), signers: signers.map((s) => s.keyId), openid, refused }));
})().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
