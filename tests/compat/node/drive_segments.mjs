// Drives customerio-node 5.2.0's segment, search and membership calls (unmodified) against a
// live Patron; prints one JSON line.
import { IdentifierType, api, cio } from "./clients.mjs";

const out = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const [id, plan] of [["seg-a", "pro"], ["seg-b", "free"], ["seg-c", "pro"]]) {
  await cio.identify(id, { email: `${id}@example.com`, plan });
}
const manual = (await api.createSegment({ name: "node manual", description: "from node", tags: ["n"] })).segment;
out.manual = manual;
out.add = await cio.addCustomersToSegment(manual.id, ["seg-a", "seg-b", "ghost"]);
out.addByEmail = await cio.addCustomersToSegment(manual.id, ["SEG-C@example.com"], IdentifierType.Email);
out.remove = await cio.removeCustomersFromSegment(manual.id, ["seg-b"]);
out.count = await api.getSegmentCustomerCount(manual.id);
out.membership = await api.getSegmentMembership(manual.id, { limit: 1 });
out.membershipNext = await api.getSegmentMembership(manual.id, { start: out.membership.next, limit: 10 });
out.customerSegments = await api.getCustomerSegments("seg-a");
out.get = await api.getSegment(manual.id);
out.usedBy = await api.getSegmentUsedBy(manual.id);

const dynamic = (await api.createSegment({
  name: "node pro",
  conditions: { attribute: { field: "plan", operator: "eq", value: "pro" } },
})).segment;
out.dynamicCreated = dynamic;
async function countOf(id, want) {
  for (let i = 0; i < 200; i++) {
    const { count } = await api.getSegmentCustomerCount(id);
    if (count === want) return count;
    await sleep(25);
  }
  return (await api.getSegmentCustomerCount(id)).count;
}
out.dynamicCount = await countOf(dynamic.id, 2);
await cio.identify("seg-b", { plan: "pro" });
out.dynamicCountAfter = await countOf(dynamic.id, 3);
out.list = await api.listSegments();
out.search = await api.searchCustomers(
  { and: [{ attribute: { field: "plan", operator: "eq", value: "pro" } }, { segment: { id: manual.id } }] },
  { limit: 10 },
);
out.deleted = await api.deleteSegment(manual.id);
try {
  await api.getSegment(manual.id);
  out.afterDelete = "found";
} catch (err) {
  out.afterDelete = err.statusCode;
}
console.log(JSON.stringify(out));
