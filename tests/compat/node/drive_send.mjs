// customerio-node 5.2.0's sendEmail (unmodified) against a live Patron; prints one JSON line.
import { createRequire } from "node:module";
import { api } from "./clients.mjs";

const require = createRequire(import.meta.url);
const { SendEmailRequest } = require("customerio-node");

const out = {};
const request = new SendEmailRequest({
  transactional_message_id: "WELCOME",
  to: "node@example.com",
  identifiers: { email: "node@example.com" },
  message_data: { plan: "team", items: [{ name: "Hat" }] },
  headers: { "X-Source": "node" },
  bcc: "hidden@example.com", // the client has no cc field
});
request.attach("data.bin", Buffer.from([0, 1, 2, 250, 255]));
out.sent = await api.sendEmail(request);
try {
  await api.sendEmail(new SendEmailRequest({ to: "y@example.com", transactional_message_id: 424242 }));
  out.unknown = "accepted";
} catch (err) {
  out.unknown = { statusCode: err.statusCode, message: err.message };
}
console.log(JSON.stringify(out));
