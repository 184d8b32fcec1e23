// customerio-node 5.2.0's transactional-content, metrics and subscription calls (unmodified)
// against a live Patron; prints one JSON line.
import { api, cio } from "./clients.mjs";

const out = {};
const failure = async (call) => {
  try {
    await call();
    return "accepted";
  } catch (err) {
    return { statusCode: err.statusCode, message: err.message };
  }
};

await cio.identify("node-sub", {
  email: "sub@example.com",
  cio_subscription_preferences: { topics: { topic_1: false } },
});
out.topics = await api.listSubscriptionTopics();
out.channels = await api.listSubscriptionChannels();
out.prefs = await api.getCustomerSubscriptionPreferences("sub@example.com", { idType: "email" });
out.token = await api.getSubscriptionCenterToken("node-sub");
out.tokenError = await failure(() => api.getSubscriptionCenterToken("nobody"));

out.contents = await api.getTransactionalMessageContents(7);
const contentId = out.contents.contents[0].id;
out.updated = await api.updateTransactionalMessageContent(7, contentId, {
  subject: "Updated for {{ trigger.plan }}",
  body: "<p>Fresh</p><a href='https://shop.test/new'>New</a>",
  from: "Shop <hello@shop.test>",
  headers: [{ name: "X-Source", value: "updated" }],
});
out.french = await api.updateTransactionalMessageLanguage(7, "fr", { subject: "Bonjour" });
out.getFrench = await api.getTransactionalMessageLanguage(7, "fr");
out.languageError = await failure(() => api.getTransactionalMessageLanguage(7, "de"));
out.contentError = await failure(() => api.updateTransactionalMessageContent(7, 999999, {}));
out.metrics = await api.getTransactionalMessageMetrics(7, { period: "days", steps: 2 });
out.links = await api.getTransactionalMessageLinkMetrics(7, { period: "days", steps: 2, unique: true });
console.log(JSON.stringify(out));
