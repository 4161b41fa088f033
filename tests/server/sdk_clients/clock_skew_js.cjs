// A JavaScript v3 client whose clock is two hours slow: its first call is refused as
// InvalidSignatureException ("Signature expired"), the SDK corrects its clock from the answer's Date header
// and its retry succeeds. Prints {"refused": ..., "retried": ...}. Environment: ENDPOINT, ACCESS_KEY, SECRET_KEY.
"use strict";
const sdk = require("@aws-sdk/client-ecr-public");

const env = process.env;
const client = (maxAttempts) => new sdk.ECRPUBLIC({ region: "us-east-1", endpoint: env.ENDPOINT, maxAttempts,
  systemClockOffset: -2 * 3600e3, credentials: { accessKeyId: env.ACCESS_KEY, secretAccessKey: env.SECRET_KEY } });

async function main() {
  const out = {};
  try {
    await client(1).describeRegistries({});
    out.refused = null;
  } catch (e) {
    out.refused = { error: e.name, message: e.message, clockSkewCorrected: Boolean(e.$metadata.clockSkewCorrected) };
  }
  const r = await client(2).describeRegistries({});
  out.retried = { attempts: r.$metadata.attempts, registryId: r.registries[0].registryId };
  return out;
}

main().then((out) => process.stdout.write(JSON.stringify(out) + "\n"), (e) => {
  process.stderr.write(`failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
