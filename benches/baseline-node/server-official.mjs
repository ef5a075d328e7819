// The competent Node.js baseline of the load benchmark (`node-official`): the
// function of common.mjs, publishing with Google's official client,
// `@google-cloud/pubsub` (versions pinned in package-lock.json, installed with
// `npm ci`), over REST to the same sink as hermes-ingest. Its batching is on,
// with the client's defaults: every event is one `publishMessage` call, and the
// client coalesces the calls of concurrent requests into batches (up to 100
// messages, 1 MB or 10 ms), as it does in production.
//
// `fallback: true, protocol: 'http'` make it use REST over plain HTTP (the
// sink is Pub/Sub's REST API on loopback); the pass-through auth client keeps it
// from looking for credentials on the metadata server.

import { PubSub } from '@google-cloud/pubsub';
import { PassThroughClient } from 'google-auth-library';
import { serve, PROJECT, SINK, TOPIC_ID } from './common.mjs';

const pubsub = new PubSub({
  projectId: PROJECT,
  apiEndpoint: SINK,
  fallback: true,
  protocol: 'http',
  authClient: new PassThroughClient(),
});
const topic = pubsub.topic(TOPIC_ID);

function publish(messages) {
  return Promise.all(messages.map(({ event, attributes }) =>
    topic.publishMessage({ data: Buffer.from(JSON.stringify(event)), attributes })));
}

serve(publish);
