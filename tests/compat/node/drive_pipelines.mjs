// Drives customerio-node 5.2.0's PipelinesClient and @segment/analytics-node (unmodified)
// against a live Patron; prints one JSON line.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { PipelinesClient } = require("customerio-node");
const { Analytics } = require("@segment/analytics-node");

const base = process.env.PATRON_URL;
const key = process.env.PATRON_WRITE_KEY;
const out = {};

async function rejected(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return { statusCode: err.statusCode, message: err.message };
  }
}

const cio = new PipelinesClient(key, { url: `${base}/v1` });
out.identify = await cio.identify({ userId: "node-cdp-1", traits: { email: "node-cdp@example.com", plan: "team" } });
out.track = await cio.track({ userId: "node-cdp-1", event: "Checkout", properties: { amount: 7 } });
await cio.page({ userId: "node-cdp-1", name: "Home", properties: { url: "https://example.com/" } });
await cio.screen({ userId: "node-cdp-1", name: "Inbox" });
await cio.group({ userId: "node-cdp-1", groupId: "node-cdp-org", traits: { name: "Org" } });
await cio.track({ anonymousId: "node-cdp-anon", event: "Looked" });
await cio.identify({ userId: "node-cdp-2", anonymousId: "node-cdp-anon" });
await cio.identify({ userId: "node-cdp-old", traits: { old: true } });
await cio.alias({ userId: "node-cdp-2", previousId: "node-cdp-old" });
out.batch = await cio.batch([
  { type: "identify", userId: "node-cdp-3", traits: { n: 3 } },
  { type: "track", userId: "node-cdp-3", event: "Batched" },
]);
const strict = new PipelinesClient(key, { url: `${base}/v1`, strictMode: true });
out.strictInvalid = await rejected(strict.batch([{ type: "alias", userId: "node-cdp-3" }]));
const strictBad = new PipelinesClient("not-a-key", { url: `${base}/v1`, strictMode: true });
out.strictBadKey = await rejected(strictBad.identify({ userId: "nobody" }));
const lenientBad = new PipelinesClient("not-a-key", { url: `${base}/v1` });
out.lenientBadKey = await lenientBad.identify({ userId: "nobody" });

const analytics = new Analytics({ writeKey: key, host: base, flushAt: 10, maxRetries: 0 });
const segErrors = [];
analytics.on("error", (err) => segErrors.push(String(err && err.reason ? err.reason : err)));
analytics.identify({ userId: "seg-node-1", traits: { email: "seg-node@example.com" } });
for (let i = 0; i < 25; i++) {
  analytics.track({ userId: "seg-node-1", event: "Node Bulk", properties: { i } });
}
analytics.group({ userId: "seg-node-1", groupId: "seg-node-org", traits: { name: "SegOrg" } });
await analytics.closeAndFlush({ timeout: 20000 });
out.segmentErrors = segErrors;
console.log(JSON.stringify(out));
