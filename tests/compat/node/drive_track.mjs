// Drives customerio-node 5.2.0 (unmodified) against a live Patron; prints one JSON line.
import { APIClient, IdentifierType, TrackClient, api, base, cio } from "./clients.mjs";

const out = {};

async function rejected(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return { statusCode: err.statusCode, message: err.message };
  }
}

out.region = await cio.getAccountRegion();
out.identify = await cio.identify("node 1/x", { email: "node1@example.com", created_at: 1700000000, plan: null, tier: "gold" });
await cio.track("node 1/x", { name: "purchase", data: { price: 2 }, id: "01HNODEEVENT000000000000001" });
await cio.track("node 1/x", { name: "purchase", data: { price: 2 }, id: "01HNODEEVENT000000000000001" });
await cio.trackAnonymous("anon-node", { name: "browsed", data: { page: "/" } });
await cio.trackAnonymous("", { name: "invite", data: { recipient: "friend@example.com" } });
await cio.identify("node2", { anonymous_id: "anon-node" });
await cio.trackPageView("node 1/x", "/docs");
await cio.addDevice("node 1/x", "tok-node", "ios", { last_used: 1700000000, app_version: "1.2" });
await cio.addDevice("node 1/x", "tok-node-2", "android");
await cio.deleteDevice("node 1/x", "tok-node-2");
await cio.identify("node-del", { a: 1 });
await cio.destroy("node-del");
await cio.identify("node-sup", { a: 1 });
await cio.suppress("node-sup");
await cio.unsuppress("node-sup");
await cio.identify("node-merge-a", { a: "1" });
await cio.identify("node-merge-b", { b: "2" });
await cio.mergeCustomers(IdentifierType.Id, "node-merge-a", IdentifierType.Id, "node-merge-b");
out.form = await cio.submitForm("contact", { email: "form@example.com", message: "hi" });
out.metric = await cio.reportMetric({ delivery_id: "dlv-node", metric: "clicked", href: "https://x.y" });
out.push = await cio.trackPush({ delivery_id: "dlv-node", event: "opened", device_id: "tok-node", timestamp: 1700000000 });
out.unsubscribeError = await rejected(cio.unsubscribe("no-such-delivery"));
out.limitError = await rejected(cio.identify("big", { big: "x".repeat(1001) }));
out.entity = await cio.entity({ type: "person", action: "identify", identifiers: { id: "node-v2" }, attributes: { plan: "v2" } });
out.objectEntity = await cio.entity({ type: "object", action: "identify", identifiers: { object_type_id: "1", object_id: "node-acme" }, attributes: { name: "Acme" }, cio_relationships: [{ identifiers: { id: "node-v2" }, relationship_attributes: { role: "admin" } }] });
out.batch = await cio.batch([
  { type: "person", action: "event", identifiers: { id: "node-v2" }, name: "batched", attributes: { n: 1 } },
  { type: "person", action: "identify", identifiers: { id: "node-v2", email: "two@x.co" } },
]);
const bad = new TrackClient(process.env.PATRON_SITE_ID, "wrong", { url: `${base}/api/v1`, retry: { maxRetries: 0 } });
out.authError = await rejected(bad.identify("nobody", { a: 1 }));
out.byEmail = await api.getCustomersByEmail("NODE1@example.com");
out.byEmailMissing = await api.getCustomersByEmail("missing@example.com");
out.attributes = await api.getAttributes("node 1/x", IdentifierType.Id);
out.attributesMissing = await rejected(api.getAttributes("nobody"));
out.objectAttributes = await api.request.get(`${base}/v1/objects/1/node-acme/attributes`);
const badApi = new APIClient("wrong", { url: `${base}/v1`, retry: { maxRetries: 0 } });
out.apiAuthError = await rejected(badApi.getCustomersByEmail("a@b.co"));
console.log(JSON.stringify(out));
