// The official clients (customerio-node 5.2.0, unmodified) pointed at the Patron under test.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
export const { TrackClient, APIClient, IdentifierType } = require("customerio-node");

export const base = process.env.PATRON_URL;
export const cio = new TrackClient(process.env.PATRON_SITE_ID, process.env.PATRON_TRACK_KEY, {
  url: `${base}/api/v1`,
  retry: { maxRetries: 0 },
});
export const api = new APIClient(process.env.PATRON_APP_KEY, { url: `${base}/v1` });
