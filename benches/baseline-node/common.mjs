// What the two Node.js baselines of the load benchmark share: the HTTP
// server, the Common Event Data check, and the answer, the same JSON shape and
// statuses as hermes-ingest. Each server (server.mjs, server-official.mjs)
// only brings its way of publishing.
//
// POST / takes a JSON array of events, type-checks each against Common Event
// Data (event_name string required; optional strings; value number; user_data
// object of optional strings), publishes every valid event whole to one topic
// (data = the compact JSON, attribute event_name), and answers with the same
// JSON shape and statuses as hermes-ingest (200 / 206 / 422 / 500; 400 / 413 /
// 422 for bodies that are empty, not JSON, too large or not an array). Like
// hermes-ingest it writes one JSON log line per request to stdout.
// GET /healthz answers 200.
//
// Environment: PORT, PUBSUB_EMULATOR_HOST (host:port of the sink),
// GOOGLE_CLOUD_PROJECT, TOPIC (default "events"). Listens on 127.0.0.1 only.
// Not implemented, because the benchmark does not exercise them: gzip bodies,
// bearer tokens, preview requests, mappings, triggers.

import http from 'node:http';

export const PROJECT = process.env.GOOGLE_CLOUD_PROJECT || 'bench';
export const TOPIC_ID = process.env.TOPIC || 'events';
export const TOPIC = `projects/${PROJECT}/topics/${TOPIC_ID}`;
export const SINK = process.env.PUBSUB_EMULATOR_HOST;
const PORT = Number(process.env.PORT || 8080);
const MAX_BODY = 1048576;
const CONTAINER = 'node-baseline';

const STRINGS = [
  'client_id', 'ip_override', 'language', 'page_encoding', 'page_hostname', 'page_location',
  'page_path', 'page_referrer', 'page_title', 'screen_resolution', 'user_agent', 'user_id',
  'viewport_size', 'currency',
];
const USER_DATA = [
  'email_address', 'phone_number', 'first_name', 'last_name', 'street', 'city', 'region',
  'postal_code', 'country',
];

function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v; // string, number, boolean
}

function typeError(errors, index, path, expected, value, required) {
  const actual = jsonType(value);
  errors.push({
    eventIndex: index, path, code: 'type', expected, actual, required,
    message: `Schema: The "${path}" field was not of expected type "${expected}". ` +
      `Instead received the value type "${actual}". This field is${required ? '' : ' not'} required.`,
  });
}

// One error per failing leaf, as hermes-ingest reports them; returns whether the event passed.
function checkEvent(event, index, errors) {
  const before = errors.length;
  const base = `events[${index}]`;
  if (jsonType(event) !== 'object') {
    typeError(errors, index, base, 'object', event, true);
    return false;
  }
  const name = event.event_name;
  if (name === undefined || name === null) {
    errors.push({
      eventIndex: index, path: `${base}.event_name`, code: 'missing', expected: 'string',
      actual: 'null', required: true,
      message: `Missing Field: The "${base}.event_name" value is required but was not found.`,
    });
  } else if (typeof name !== 'string') {
    typeError(errors, index, `${base}.event_name`, 'string', name, true);
  }
  for (const f of STRINGS) {
    const v = event[f];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      typeError(errors, index, `${base}.${f}`, 'string', v, false);
    }
  }
  const value = event.value;
  if (value !== undefined && value !== null && typeof value !== 'number') {
    typeError(errors, index, `${base}.value`, 'number', value, false);
  }
  const ud = event.user_data;
  if (ud !== undefined && ud !== null) {
    if (jsonType(ud) !== 'object') {
      typeError(errors, index, `${base}.user_data`, 'object', ud, false);
    } else {
      for (const f of USER_DATA) {
        const v = ud[f];
        if (v !== undefined && v !== null && typeof v !== 'string') {
          typeError(errors, index, `${base}.user_data.${f}`, 'string', v, false);
        }
      }
    }
  }
  return errors.length === before;
}

function body(status, error, extra = {}) {
  return {
    status,
    error: error ? `[${CONTAINER}][Server-to-Server Client][Error] - ${error}` : '',
    invalidSchemaEvents: [], fullyFailedTagEvents: [], partialFailedTagEvents: [],
    failedTags: [], errors: [], messageIds: [], ...extra,
  };
}

async function handle(raw, publish) {
  const text = raw.toString('utf8');
  if (text.trim() === '') return body(400, 'Body: The request body is empty.');
  let events;
  try {
    events = JSON.parse(text);
  } catch (e) {
    return body(400, `Body: The request body is not valid JSON: ${e.message}`);
  }
  if (!Array.isArray(events)) {
    return body(422, 'Body: The request body is not of type array.');
  }
  const errors = [];
  const invalid = [];
  const messageIds = events.map(() => ({}));
  const messages = [];
  const owners = [];
  events.forEach((event, i) => {
    if (!checkEvent(event, i, errors)) {
      invalid.push(i);
      return;
    }
    const attributes = {};
    if (typeof event.event_name === 'string') attributes.event_name = event.event_name;
    messages.push({ event, attributes });
    owners.push(i);
  });
  const failedTags = [];
  const fully = [];
  if (messages.length > 0) {
    const start = Date.now();
    try {
      const ids = await publish(messages);
      owners.forEach((event, k) => { messageIds[event].events = ids[k]; });
    } catch (e) {
      const executionTime = Date.now() - start;
      for (const event of owners) {
        failedTags.push({
          tagInfo: { name: 'events', id: 'events', status: 'failure', executionTime, error: String(e.message) },
          eventIndex: event,
        });
        fully.push(event);
      }
    }
  }
  const ok = events.length - invalid.length;
  let status = 200;
  let error = '';
  if (invalid.length === 0 && failedTags.length === 0) {
    status = 200;
  } else if (ok === 0) {
    status = 422;
    error = 'Events: No events in the request body fit the schema.';
  } else if (failedTags.length === messages.length && messages.length > 0) {
    status = 500;
    error = `Tags: ${messages.length} tags were triggered. 0 tags succeeded. See failedTags for why they failed.`;
  } else {
    status = 206;
    error = `Partial Success: ${ok} events matched the schema, ${invalid.length} did not; ` +
      `${messages.length} tags triggered, ${messages.length - failedTags.length} succeeded, ${failedTags.length} failed.`;
  }
  return body(status, error, {
    invalidSchemaEvents: invalid, fullyFailedTagEvents: fully, failedTags, errors, messageIds,
  });
}

function send(res, answer) {
  const text = JSON.stringify(answer);
  res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// Serves the function; `publish(messages)` gets the valid events as
// `{ event, attributes }`, in order, and resolves to one message id each.
export function serve(publish) {
  if (!SINK) {
    console.error('PUBSUB_EMULATOR_HOST is required');
    process.exit(1);
  }
  const server = http.createServer((req, res) => {
    const start = process.hrtime.bigint();
    const log = (status, events) => {
      const latency_ms = Number(process.hrtime.bigint() - start) / 1e6;
      process.stdout.write(JSON.stringify({
        severity: 'INFO', time: new Date().toISOString(), message: `${req.method} ${req.url} ${status}`,
        status, events, latency_ms, method: req.method, path: req.url,
      }) + '\n');
    };
    if (req.method === 'GET' && req.url === '/healthz') {
      res.end('ok');
      log(200, 0);
      return;
    }
    if (req.method !== 'POST' || !req.url.startsWith('/')) {
      res.statusCode = 405;
      res.end();
      return;
    }
    if (Number(req.headers['content-length'] || 0) > MAX_BODY) {
      send(res, body(413, `Body: The request body is larger than ${MAX_BODY} bytes.`));
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        send(res, body(413, `Body: The request body is larger than ${MAX_BODY} bytes.`));
        return;
      }
      handle(Buffer.concat(chunks), publish).then((answer) => {
        send(res, answer);
        log(answer.status, answer.messageIds.length);
      }, (e) => {
        send(res, body(500, String(e && e.message)));
      });
    });
  });

  server.keepAliveTimeout = 30000;
  server.listen(PORT, '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
