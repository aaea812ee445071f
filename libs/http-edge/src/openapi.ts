// The OpenAPI 3.1 description of the gateway's HTTP API, served at GET /api/openapi.json. Written
// by hand as data, with the limits taken from the code that enforces them; the gateway's spec checks
// that it documents exactly the routes the gateway registers (its controllers and upgrades).
import { MAX_COMMAND_TIMEOUT_MS } from '@framewire/commands';
import { RESULT_KIND_NAMES } from './request-problems';

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const errorResponse = (description: string) => json({ $ref: '#/components/schemas/Error' }, description);

const UNAUTHORIZED = errorResponse('A token is configured and the Authorization header (on a WebSocket: the `framewire.bearer.` subprotocol) is missing, malformed or wrong.');
const FOREIGN_ORIGIN = errorResponse("Sent by a page of another origin than the gateway's own and those of FW_HTTP_ALLOWED_ORIGINS; `field` is `origin`.");
/** Upgrades accept the token as an Authorization header or, from browsers, as a subprotocol. */
const WEBSOCKET_SECURITY = [{ bearer: [] }, { bearerSubprotocol: [] }];

const RESULT_KIND = { type: 'string', enum: Object.keys(RESULT_KIND_NAMES) };
const OBJECT = { type: 'object', additionalProperties: true };

export const OPENAPI_DOCUMENT = Object.freeze({
  openapi: '3.1.0',
  info: {
    title: 'framewire gateway',
    version: '1',
    description:
      'Results hub and front door of the framewire pipeline: the live viewer page, health, statistics, latest results, commands, Prometheus metrics, live results and video over WebSocket, replay. See docs/gateway.md and docs/viewer.md.',
  },
  paths: {
    '/': {
      get: {
        summary: 'The live viewer page: video with overlays, live statistics, commands and replay (docs/viewer.md).',
        security: [],
        responses: {
          '200': { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } },
          '503': errorResponse('The viewer bundle was not built (npm run build).'),
        },
      },
    },
    '/viewer.js': {
      get: {
        summary: "The viewer page's script (one bundle of apps/viewer).",
        security: [],
        responses: {
          '200': { description: 'The script.', content: { 'text/javascript': { schema: { type: 'string' } } } },
          '503': errorResponse('The viewer bundle was not built (npm run build).'),
        },
      },
    },
    '/viewer.css': {
      get: {
        summary: "The viewer page's styles.",
        security: [],
        responses: {
          '200': { description: 'The styles.', content: { 'text/css': { schema: { type: 'string' } } } },
          '503': errorResponse('The viewer bundle was not built (npm run build).'),
        },
      },
    },
    '/api/replay/streams': {
      get: {
        summary: 'The streams recorded in the results archive, with the capture-time span replay can cover and whether frames were recorded.',
        security: [{ bearer: [] }],
        responses: {
          '200': json({ $ref: '#/components/schemas/RecordedStreams' }, 'Recorded streams.'),
          '400': errorResponse('A query parameter was given; this endpoint takes none.'),
          '401': UNAUTHORIZED,
        },
      },
    },
    '/api/health': {
      get: {
        summary: 'Pipeline health: 200 when capture, supplier, a worker and the gateway are healthy and frames flow.',
        security: [],
        responses: {
          '200': json({ $ref: '#/components/schemas/HealthReport' }, 'Every check passed.'),
          '503': json({ $ref: '#/components/schemas/HealthReport' }, 'At least one check failed; the report lists every check.'),
        },
      },
    },
    '/api/stats': {
      get: {
        summary: "The supplier's per-worker and per-pool statistics, capture and worker rates, end-to-end latency per worker, router, hub, WebSocket and archive counters.",
        security: [],
        responses: { '200': json({ $ref: '#/components/schemas/Stats' }, 'Statistics.') },
      },
    },
    '/api/streams': {
      get: {
        summary: 'Every stream the hub has results for or the supplier knows, with both views.',
        security: [],
        responses: { '200': json({ $ref: '#/components/schemas/Streams' }, 'Streams.') },
      },
    },
    '/api/results/latest': {
      get: {
        summary: 'The latest result of a kind on a stream (of one worker, or of any), as protobuf JSON of framewire.v1.Result.',
        security: [{ bearer: [] }],
        parameters: [
          { name: 'stream', in: 'query', required: true, schema: { type: 'string', maxLength: 256 }, description: 'Stream id.' },
          { name: 'kind', in: 'query', required: true, schema: RESULT_KIND, description: 'Result kind.' },
          { name: 'worker', in: 'query', required: false, schema: { type: 'string', maxLength: 256 }, description: 'Worker id; absent: the latest of any worker.' },
          { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'The ETag of a result the caller has: 304 while it is still the latest.' },
        ],
        responses: {
          '200': json({ $ref: '#/components/schemas/LatestResult' }, 'The latest result; its ETag header names it.'),
          '304': { description: 'The latest result is still the one named in If-None-Match; no body.' },
          '400': errorResponse('A parameter is missing or invalid; `field` names it.'),
          '401': UNAUTHORIZED,
          '404': errorResponse('No result of that kind for that stream (and worker) yet, or it was forgotten (idle 10 minutes, or beyond FW_RESULTS_LATEST_BYTES); `field` is `stream`, or `worker` when one was named.'),
        },
      },
    },
    '/api/commands': {
      post: {
        summary: 'Sends a command to a service, or to every member of a pool, and answers with its acknowledgement (or a timeout); for a pool, with each member\'s too (docs/commands.md).',
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandRequest' } } },
        },
        responses: {
          '200': json({ $ref: '#/components/schemas/CommandAck' }, 'Acknowledged with status success.'),
          '400': json(
            { oneOf: [{ $ref: '#/components/schemas/Error' }, { $ref: '#/components/schemas/CommandAck' }] },
            'Malformed body (not JSON, wrong types, over 64 KiB; `field` names the culprit), or an unknown command type.',
          ),
          '401': UNAUTHORIZED,
          '403': FOREIGN_ORIGIN,
          '404': json({ $ref: '#/components/schemas/CommandAck' }, 'Acknowledged with status unknown_target: no service or pool with that id is attached.'),
          '422': json({ $ref: '#/components/schemas/CommandAck' }, 'Acknowledged with status error: the service refused or failed the command.'),
          '503': errorResponse('Not sent: too many commands wait for acknowledgements (for this target, or in total); `field` is `target`. Retry later.'),
          '504': json({ $ref: '#/components/schemas/CommandAck' }, 'Acknowledged with status timeout: no answer before the deadline.'),
        },
      },
    },
    '/api/openapi.json': {
      get: {
        summary: 'This document.',
        security: [],
        responses: { '200': json(OBJECT, 'The OpenAPI 3.1 description.') },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics of the gateway (text exposition format 0.0.4).',
        security: [],
        responses: { '200': { description: 'Metrics.', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/ws': {
      get: {
        summary:
          'WebSocket upgrade: live results, one binary message per result holding the protobuf encoding of framewire.v1.Result. The client sends nothing. Closed with 1001 when the gateway shuts down.',
        security: WEBSOCKET_SECURITY,
        parameters: [
          { name: 'stream', in: 'query', required: false, schema: { type: 'string', maxLength: 256 }, description: 'Only this stream.' },
          { name: 'worker', in: 'query', required: false, schema: { type: 'string', maxLength: 256 }, description: 'Only this worker.' },
          {
            name: 'kind',
            in: 'query',
            required: false,
            schema: { type: 'string' },
            description: 'Comma-separated kinds, e.g. keypoints,tracks (default: every kind).',
          },
        ],
        responses: {
          '101': { description: 'Switching protocols; results follow as binary messages.' },
          '400': errorResponse('A query parameter is invalid or unknown; `field` names it.'),
          '401': UNAUTHORIZED,
          '403': FOREIGN_ORIGIN,
          '503': errorResponse('Too many clients, or the gateway is shutting down.'),
        },
      },
    },
    '/ws/video': {
      get: {
        summary:
          "WebSocket upgrade: a stream's frames as the gateway relays them for display, one binary message per frame holding the protobuf encoding of framewire.v1.ViewerMessage with `frame` set (a VideoFrame: the JPEG, its sequence and capture time). Latest-frame policy at the display rate (FW_VIEWER_FPS): a client that does not keep up misses frames (gaps in relay_sequence), never queues them. The client sends nothing. Closed with 1001 when the gateway shuts down, 1013 when the relay's subscription at the supplier failed (connect again).",
        security: WEBSOCKET_SECURITY,
        parameters: [{ name: 'stream', in: 'query', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }, description: 'The stream to watch.' }],
        responses: {
          '101': { description: 'Switching protocols; frames follow as binary messages.' },
          '400': errorResponse('stream is missing or invalid, or an unknown parameter was given; `field` names it.'),
          '401': UNAUTHORIZED,
          '403': FOREIGN_ORIGIN,
          '404': errorResponse('The supplier has no such stream (`field` is `stream`); the gateway does not create one.'),
          '503': errorResponse('Too many clients, the relay already serves FW_VIEWER_MAX_STREAMS streams, the supplier cannot be asked, or the gateway is shutting down.'),
        },
      },
    },
    '/ws/replay': {
      get: {
        summary:
          'WebSocket upgrade: recorded results of a stream (and, when frame recording was on, its frames) in capture-time order, each one binary message holding framewire.v1.ViewerMessage (`result` or `frame`), then one with `replay_end`; the gateway then closes with 1000 (1011 when the archive could not be read). The client sends nothing.',
        security: WEBSOCKET_SECURITY,
        parameters: [
          { name: 'stream', in: 'query', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }, description: 'The recorded stream.' },
          { name: 'from', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Earliest capture time, microseconds since the Unix epoch.' },
          { name: 'to', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Latest capture time, microseconds since the Unix epoch.' },
          { name: 'kind', in: 'query', required: false, schema: { type: 'string' }, description: 'Comma-separated result kinds (default: every kind).' },
          { name: 'video', in: 'query', required: false, schema: { type: 'string', enum: ['on', 'off'] }, description: 'Send recorded frames too (default on).' },
          { name: 'pace', in: 'query', required: false, schema: { type: 'string', enum: ['recorded', 'fast'] }, description: 'At the recorded pace (default) or as fast as the socket takes it.' },
        ],
        responses: {
          '101': { description: 'Switching protocols; the replay follows as binary messages.' },
          '400': errorResponse('A query parameter is invalid or unknown; `field` names it.'),
          '401': UNAUTHORIZED,
          '403': FOREIGN_ORIGIN,
          '503': errorResponse('Too many replays at once, or the gateway is shutting down.'),
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'The token of FW_AUTH_TOKEN; required only when it is set.' },
      bearerSubprotocol: {
        type: 'apiKey',
        in: 'header',
        name: 'Sec-WebSocket-Protocol',
        description:
          'For browsers, which cannot set Authorization on a WebSocket: offer the subprotocols `framewire.v1` and `framewire.bearer.<the token in base64url, unpadded>`; the gateway answers with `framewire.v1` and never echoes the token.',
      },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'string' }, field: { type: 'string', description: 'The request field at fault.' } },
      },
      HealthReport: {
        type: 'object',
        required: ['status', 'checks'],
        properties: {
          status: { type: 'string', enum: ['ok', 'failing'] },
          checks: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'ok', 'detail'],
              properties: {
                name: { type: 'string', enum: ['gateway', 'capture', 'supplier', 'frames', 'workers'] },
                ok: { type: 'boolean' },
                detail: { type: 'string' },
              },
            },
          },
        },
      },
      Stats: {
        type: 'object',
        properties: {
          supplier: {
            type: 'object',
            properties: {
              available: { type: 'boolean' },
              error: { type: 'string' },
              streams: { type: 'array', items: { $ref: '#/components/schemas/StreamStats' } },
              workers: { type: 'array', items: { $ref: '#/components/schemas/WorkerStats' } },
              refused: { type: 'array', items: { $ref: '#/components/schemas/RefusedSubscriptions' } },
              pools: { type: 'array', items: { $ref: '#/components/schemas/PoolStats' } },
            },
          },
          capture: {
            type: 'object',
            properties: {
              streams: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { streamId: { type: 'string' }, publishRateFps: { type: 'number' }, framesPublished: { type: 'integer' }, lastSequence: { type: 'integer' } },
                },
              },
            },
          },
          workers: { type: 'array', items: { $ref: '#/components/schemas/WorkerResultStats' } },
          results: OBJECT,
          commands: OBJECT,
          websocket: OBJECT,
          upgrades: {
            type: 'object',
            description: 'WebSocket upgrades refused before any endpoint: from pages of a foreign origin, and without the token.',
            properties: { refusedOrigin: { type: 'integer' }, refusedToken: { type: 'integer' } },
          },
          keepalive: {
            type: 'object',
            description: 'WebSocket keepalive of /ws, /ws/video and /ws/replay (a ping every FW_KEEPALIVE_MS): sockets watched, pings sent, clients terminated for not answering.',
            properties: { sockets: { type: 'integer' }, pingsSent: { type: 'integer' }, terminated: { type: 'integer' } },
          },
          archive: { oneOf: [OBJECT, { type: 'null' }] },
          viewer: {
            type: 'object',
            description: 'The video relay (per stream: frames relayed and skipped, clients; per client: sent, dropped, held bytes), /ws/video and /ws/replay counters, the frame archive (null when frame recording is off).',
            properties: { relay: OBJECT, video: OBJECT, replay: OBJECT, frameArchive: { oneOf: [OBJECT, { type: 'null' }] } },
          },
        },
      },
      RecordedStreams: {
        type: 'object',
        properties: {
          frameRecording: { type: 'boolean', description: 'Whether this gateway records frames now (FW_VIEWER_RECORD_FRAMES).' },
          streams: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                streamId: { type: 'string' },
                workers: { type: 'array', items: { type: 'string' } },
                fromTimeUs: { type: 'integer', description: 'Capture time of the earliest recorded result (0: unknown).' },
                toTimeUs: { type: 'integer', description: 'Last write to the archive, microseconds since the Unix epoch.' },
                segments: { type: 'integer' },
                bytes: { type: 'integer' },
                frames: { type: 'boolean', description: 'Frames of this stream were recorded.' },
              },
            },
          },
        },
      },
      StreamStats: {
        type: 'object',
        properties: {
          streamId: { type: 'string' },
          framesPublished: { type: 'integer' },
          inboxDrops: { type: 'integer' },
          publishRateFps: { type: 'number' },
          lastSequence: { type: 'integer' },
          subscribers: { type: 'integer' },
          publishers: { type: 'integer' },
          active: { type: 'boolean', description: 'False while the stream has no publisher (its workers wait).' },
        },
      },
      RefusedSubscriptions: {
        type: 'object',
        description: "Refused subscriptions of one worker id for one reason at the supplier (framewire.v1.RefusedSubscriptions), the last one's details.",
        properties: {
          workerId: { type: 'string' },
          reason: {
            type: 'string',
            enum: ['SUBSCRIPTION_REFUSAL_ID_IN_USE', 'SUBSCRIPTION_REFUSAL_WORKER_LIMIT', 'SUBSCRIPTION_REFUSAL_CALLER_LIMIT', 'SUBSCRIPTION_REFUSAL_STREAM_LIMIT'],
          },
          count: { type: 'integer' },
          lastRefusedTimeUs: { type: 'integer' },
          streamId: { type: 'string' },
          caller: { type: 'string', description: 'Peer address of the last refused call, without the port.' },
          message: { type: 'string' },
        },
      },
      WorkerStats: {
        type: 'object',
        properties: {
          workerId: { type: 'string' },
          streamId: { type: 'string' },
          lastSequence: { type: 'integer' },
          lastDeliveryTimeUs: { type: 'integer' },
          framesDelivered: { type: 'integer' },
          dropsTotal: { type: 'integer' },
          dropsConsecutive: { type: 'integer' },
          idle: { type: 'boolean' },
          lastDeliveryAgeUs: { type: 'integer' },
          sharedMemory: { type: 'boolean' },
          poolId: { type: 'string', description: "The pool the worker is a member of ('' for broadcast); a member of several streams has streamId ''." },
        },
      },
      PoolStats: {
        type: 'object',
        description: 'One worker pool at the supplier (framewire.v1.PoolStats).',
        properties: {
          poolId: { type: 'string' },
          mode: { type: 'string', enum: ['shared', 'sticky'] },
          streams: { type: 'array', items: { $ref: '#/components/schemas/PoolStreamStats' } },
          members: { type: 'array', items: { $ref: '#/components/schemas/PoolMemberStats' } },
          ownershipChanges: { type: 'integer', description: "Changes of a stream's owner since the pool was created (sticky pools)." },
        },
      },
      PoolStreamStats: {
        type: 'object',
        description: "One stream as one pool sees it: its latest-frame slot's counters.",
        properties: {
          streamId: { type: 'string' },
          published: { type: 'integer', description: "Frames offered to the pool's slot of this stream." },
          taken: { type: 'integer', description: 'Frames a member took (analysed).' },
          dropped: { type: 'integer', description: 'Frames replaced before any member took them.' },
          coverage: { type: 'number', description: 'taken / published (0 before the first frame).' },
          ageP50Us: { type: 'integer', description: 'Age at delivery over the last 256 deliveries, microseconds.' },
          ageP99Us: { type: 'integer' },
          members: { type: 'integer', description: 'Members serving this stream.' },
          owner: { type: 'string', description: "The member that owns it (sticky pools; '' in shared pools)." },
        },
      },
      PoolMemberStats: {
        type: 'object',
        properties: {
          workerId: { type: 'string' },
          allStreams: { type: 'boolean' },
          streamIds: { type: 'array', items: { type: 'string' }, description: 'The streams it listed (empty when allStreams).' },
          creditsOutstanding: { type: 'integer', description: 'Credits it granted that wait for frames.' },
          framesTaken: { type: 'integer' },
          ownedStreams: { type: 'integer', description: 'Streams it owns (sticky pools).' },
        },
      },
      WorkerResultStats: {
        type: 'object',
        properties: {
          workerId: { type: 'string' },
          streamId: { type: 'string' },
          resultsTotal: { type: 'integer' },
          resultsPerSecond: { type: 'number' },
          lastReceivedTimeUs: { type: 'integer' },
          latency: {
            type: 'object',
            description: 'End-to-end latency (gateway receive time - capture time), microseconds.',
            properties: { p50Us: { type: 'number' }, p99Us: { type: 'number' }, samples: { type: 'integer' } },
          },
        },
      },
      Streams: {
        type: 'object',
        properties: {
          streams: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                streamId: { type: 'string' },
                results: {
                  oneOf: [
                    {
                      type: 'object',
                      properties: {
                        streamId: { type: 'string' },
                        workers: { type: 'array', items: { type: 'string' } },
                        kinds: { type: 'array', items: RESULT_KIND },
                        resultsTotal: { type: 'integer' },
                        lastFrameSequence: { type: 'integer' },
                        lastCaptureTimeUs: { type: 'integer' },
                        lastReceivedTimeUs: { type: 'integer' },
                      },
                    },
                    { type: 'null' },
                  ],
                },
                supplier: { oneOf: [{ $ref: '#/components/schemas/StreamStats' }, { type: 'null' }] },
              },
            },
          },
        },
      },
      LatestResult: {
        type: 'object',
        required: ['kind', 'receivedTimeUs', 'result'],
        properties: {
          kind: RESULT_KIND,
          receivedTimeUs: { type: 'integer', description: 'When the gateway received it, microseconds since the Unix epoch.' },
          result: { ...OBJECT, description: 'framewire.v1.Result in protobuf JSON (camelCase; default values omitted; stage as base64).' },
        },
      },
      CommandRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['requestId', 'target', 'type'],
        properties: {
          requestId: { type: 'string', minLength: 1, maxLength: 256, description: 'A repeated request id gets the first answer.' },
          target: { type: 'string', minLength: 1, maxLength: 256, description: 'Service instance, e.g. capture, supplier, worker-1, or a pool id (every member subscribed now).' },
          type: { type: 'string', minLength: 1, maxLength: 256, description: 'Command type, e.g. capture.pause (docs/commands.md).' },
          payload: { ...OBJECT, description: 'Parameters of the command type.' },
          timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_COMMAND_TIMEOUT_MS, description: "Default: the gateway's FW_COMMAND_TIMEOUT_MS." },
        },
      },
      CommandAck: {
        type: 'object',
        required: ['requestId', 'status', 'message', 'responder', 'latencyUs'],
        properties: {
          requestId: { type: 'string' },
          status: { type: 'string', enum: ['success', 'error', 'unknown_target', 'timeout', 'unknown_type'] },
          message: { type: 'string' },
          responder: { type: 'string', description: 'The service that answered ("" when none did); the pool for a pool command; the member in memberAcks.' },
          latencyUs: { type: 'integer' },
          memberAcks: {
            type: 'array',
            items: { $ref: '#/components/schemas/CommandAck' },
            description:
              "A pool target only: each member's ack, by member id. The ack itself is success only when every member succeeded, else the status of the first member that did not (a member that did not answer in time: timeout).",
          },
        },
      },
    },
  },
});

/** The operations of the document as "METHOD /path" strings. */
export function documentedOperations(document: { paths: Record<string, object> } = OPENAPI_DOCUMENT): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
}
