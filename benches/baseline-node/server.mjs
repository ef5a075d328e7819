// The plain Node.js baseline of the load benchmark (`node-fetch`): the function
// of common.mjs, publishing the way such a function is often written by hand,
// with no npm dependencies: one `fetch` Pub/Sub REST publish call per request
// (split at 1,000 messages), data = base64 of each event's compact JSON.

import { serve, SINK, TOPIC } from './common.mjs';

const PUBLISH_URL = `http://${SINK}/v1/${TOPIC}:publish`;
const MAX_BATCH = 1000;

async function publish(messages) {
  const ids = [];
  for (let i = 0; i < messages.length; i += MAX_BATCH) {
    const batch = messages.slice(i, i + MAX_BATCH).map(({ event, attributes }) => ({
      data: Buffer.from(JSON.stringify(event)).toString('base64'),
      attributes,
    }));
    const res = await fetch(PUBLISH_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: batch }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Pub/Sub answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    const got = JSON.parse(text).messageIds || [];
    if (got.length !== batch.length) throw new Error(`${got.length} message ids for ${batch.length} messages`);
    ids.push(...got);
  }
  return ids;
}

serve(publish);
