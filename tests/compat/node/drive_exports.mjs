// Drives customerio-node 5.2.0's export calls (unmodified) against a live Patron, then fetches
// the signed download link as a user's code would; prints one JSON line.
import { api, cio } from "./clients.mjs";

const out = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const [id, plan] of [["exp-a", "pro"], ["exp-b", "free"], ["exp-c", "pro"]]) {
  await cio.identify(id, { email: `${id}@example.com`, plan, tag: `node-${process.pid}` });
}
const filters = {
  and: [
    { attribute: { field: "plan", operator: "eq", value: "pro" } },
    { attribute: { field: "tag", operator: "eq", value: `node-${process.pid}` } },
  ],
};
const created = await api.createCustomersExport(filters);
out.created = created.export;
let current = created.export;
for (let i = 0; i < 400 && current.status === "pending"; i++) {
  await sleep(25);
  current = (await api.getExport(created.export.id)).export;
}
out.done = current;
out.list = (await api.listExports()).exports.map((e) => e.id);
const link = await api.downloadExport(created.export.id);
out.linkKeys = Object.keys(link);
const response = await fetch(link.url);
out.status = response.status;
out.contentType = response.headers.get("content-type");
out.csv = await response.text();
out.tampered = (await fetch(link.url.replace(/signature=[0-9a-f]/, "signature=x"))).status;
try {
  await api.getExport(999999);
  out.unknown = "found";
} catch (err) {
  out.unknown = err.statusCode;
}
console.log(JSON.stringify(out));
