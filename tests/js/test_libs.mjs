// Node Redis libraries, unchanged, against a fencepost cluster: node-redlock v5 on
// ioredis, and rate-limiter-flexible's RateLimiterRedis (Lua script + MULTI).
//
// Run by tests/tests/redis_libs.rs with FENCEPOST_FOLLOWER=host:port of a follower
// (every request is forwarded to the leader). Prints one line per test and
// `N passed, N failed`; exits non-zero on failure. Libraries: tests/js/package.json,
// installed by scripts/install-compat-deps.sh.

import { createRequire } from "node:module";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const Redis = require("ioredis");
const RedlockModule = require("redlock");
const Redlock = RedlockModule.default || RedlockModule;
const { ResourceLockedError, ExecutionError } = RedlockModule;
const { RateLimiterRedis } = require("rate-limiter-flexible");

const [host, portText] = process.env.FENCEPOST_FOLLOWER.split(":");
const port = Number(portText);
const uniq = (p) => `${p}:${Math.random().toString(16).slice(2, 10)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function client() {
  return new Redis({ host, port, maxRetriesPerRequest: 3, enableOfflineQueue: true });
}

async function redlockBasics() {
  const a = client();
  const b = client();
  try {
    const one = new Redlock([a], { retryCount: 0 });
    const two = new Redlock([b], { retryCount: 0 });
    const key = uniq("nredlock");
    const lock = await one.acquire([key], 5000);
    assert.ok(lock.expiration > Date.now() + 4000, "expiration ahead");
    assert.equal(await a.get(key), lock.value, "the lock's value is stored");
    await assert.rejects(two.acquire([key], 5000), (e) => e instanceof ExecutionError, "exclusive");
    const extended = await lock.extend(10000);
    const pttl = await a.pttl(key);
    assert.ok(pttl > 8000 && pttl <= 10000, `extend sets PX: ${pttl}`);
    await extended.release();
    assert.equal(await a.exists(key), 0, "released");
    const again = await two.acquire([key], 5000);
    await again.release();
    // Several resources in one lock: all or nothing.
    const k1 = uniq("multi");
    const k2 = uniq("multi");
    const held = await one.acquire([k2], 5000);
    await assert.rejects(two.acquire([k1, k2], 5000), (e) => e instanceof ExecutionError, "one key held blocks both");
    assert.equal(await a.exists(k1), 0, "nothing written when a key was held");
    await held.release();
    const both = await two.acquire([k1, k2], 5000);
    assert.equal(await a.exists(k1, k2), 2);
    await both.release();
  } finally {
    a.disconnect();
    b.disconnect();
  }
}

async function redlockUsing() {
  const a = client();
  try {
    const redlock = new Redlock([a], { retryCount: 0, automaticExtensionThreshold: 200 });
    const key = uniq("using");
    let seen = null;
    await redlock.using([key], 1000, async (signal) => {
      await sleep(1300); // past the first lease: the auto-extension must have kept it
      assert.ok(!signal.aborted, "auto-extension kept the lock");
      seen = await a.get(key);
    });
    assert.ok(seen, "the lock was held inside using()");
    assert.equal(await a.exists(key), 0, "released after using()");
  } finally {
    a.disconnect();
  }
}

async function rateLimiterFlexible() {
  const a = client();
  try {
    const limiter = new RateLimiterRedis({ storeClient: a, keyPrefix: uniq("rlf"), points: 5, duration: 10 });
    for (let i = 0; i < 5; i++) {
      const r = await limiter.consume("user");
      assert.equal(r.remainingPoints, 4 - i, `remaining after ${i + 1}`);
      assert.ok(r.msBeforeNext > 0 && r.msBeforeNext <= 10000, `msBeforeNext ${r.msBeforeNext}`);
    }
    await assert.rejects(limiter.consume("user"), (res) => res.remainingPoints === 0, "sixth is refused");
    const got = await limiter.get("user"); // MULTI GET + PTTL
    assert.equal(got.consumedPoints, 6);
    await limiter.penalty("user", 1); // Lua again
    await limiter.reward("user", 3);
    assert.equal((await limiter.get("user")).consumedPoints, 4);
    await limiter.block("other", 5); // MULTI SET EX + PTTL
    const blocked = await limiter.get("other");
    assert.ok(blocked.consumedPoints > 5 && blocked.msBeforeNext > 4000, "blocked");
    assert.equal(await limiter.delete("other"), true);
    assert.equal(await limiter.get("other"), null);
    // A short window expires on the cluster clock.
    const quick = new RateLimiterRedis({ storeClient: a, keyPrefix: uniq("quick"), points: 1, duration: 1 });
    await quick.consume("k");
    await assert.rejects(quick.consume("k"));
    await sleep(1100);
    await quick.consume("k");
  } finally {
    a.disconnect();
  }
}

const tests = [
  ["node-redlock v5 on ioredis: acquire, exclusive, extend, release, multi-key", redlockBasics],
  ["node-redlock v5: using() with automatic extension", redlockUsing],
  ["rate-limiter-flexible RateLimiterRedis: consume, get, penalty, reward, block, delete", rateLimiterFlexible],
];

let passed = 0;
let failed = 0;
const only = process.env.LIBS_ONLY;
for (const [title, fn] of tests) {
  if (only && !title.includes(only)) continue;
  try {
    await fn();
    passed++;
    console.log(`ok   ${title}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${title}\n${e && e.stack ? e.stack : e}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
