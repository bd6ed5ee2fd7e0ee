// ioredis over TLS against a TLS-only fencepost node (run by tests/py/test_security.py
// with FENCEPOST_TLS_ADDR=host:port and the CA, client certificate and key paths).
// Prints one line per test and `N passed, N failed`; exits non-zero on failure.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const Redis = require("ioredis");

const [host, portText] = process.env.FENCEPOST_TLS_ADDR.split(":");
const tls = {
  ca: readFileSync(process.env.FENCEPOST_TLS_CA),
  cert: readFileSync(process.env.FENCEPOST_TLS_CERT),
  key: readFileSync(process.env.FENCEPOST_TLS_KEY),
  servername: host,
};

async function lockOverTls() {
  const r = new Redis({ host, port: Number(portText), tls, maxRetriesPerRequest: 3 });
  try {
    const name = `ioredis-tls:${Math.random().toString(16).slice(2, 10)}`;
    const token = await r.call("LOCK", "ACQUIRE", name, "w1", "10000");
    assert.ok(Number.isInteger(token) && token > 0, `token ${token}`);
    assert.equal(await r.call("LOCK", "RELEASE", name, "w1", String(token)), 1);
    assert.equal(await r.ping(), "PONG");
  } finally {
    r.disconnect();
  }
}

let passed = 0;
let failed = 0;
for (const t of [lockOverTls]) {
  try {
    await t();
    passed += 1;
    console.log(`PASS ${t.name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${t.name}: ${e.stack || e}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
