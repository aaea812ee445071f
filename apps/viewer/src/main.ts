// The live viewer page: wires the WebSockets (/ws/video frames, /ws results, /ws/replay), the frame
// matcher, the overlay drawing, the side panel (health, per-worker stats, video), the command form
// and the replay controls. Everything it decodes comes from proto/ (@framewire/proto/browser) and
// libs/overlay-codecs (stage), the same code as the services. With FW_AUTH_TOKEN set, the page asks for
// the token once (or takes it from the URL fragment `#token=`, which browsers never send) and keeps
// it in sessionStorage; it sends it in the Authorization header and, on WebSockets, in a subprotocol.
import { Result, ViewerMessage } from '@framewire/proto/browser';
import { FrameMatcher, MatchedOverlay } from './frame-matcher';
import { drawOverlays, OVERLAY_KINDS, OverlayKind, OverlayResult, OverlayToDraw } from './overlays';
import { ResolvedStage, StageLayers } from './stage-renderer';
import { TrackTrails } from './trails';

/** How often the side panel asks the gateway for health and statistics. */
const HEALTH_POLL_MS = 2_000;
const STATS_POLL_MS = 1_000;
/** JPEG decodes in flight at once; a frame arriving beyond that is dropped (the page is slow). */
const MAX_DECODES_IN_FLIGHT = 2;
/** Reconnect backoff of the live sockets. */
const RECONNECT_MS = { initial: 250, max: 5_000 };
/** The page's own frame rate is measured over this window. */
const RATE_WINDOW_MS = 3_000;
/** An HTTP request of the page gives up after this. */
const REQUEST_TIMEOUT_MS = 10_000;
/** A replay's default range: the last this many seconds of what was recorded. */
const DEFAULT_REPLAY_SPAN_S = 30;
/** A relay worker id (the gateway's own subscription at the supplier). */
const RELAY_WORKER_PREFIX = 'gateway-viewer:';
/** Where the page keeps the token for this tab (gone when the tab closes). */
const TOKEN_STORAGE_KEY = 'framewire.token';
/** The gateway's WebSocket subprotocols (apps/gateway browser-policy.ts): the one it answers with,
 *  and the one that carries the token in base64url. */
const WS_PROTOCOL = 'framewire.v1';
const WS_BEARER_PROTOCOL_PREFIX = 'framewire.bearer.';
const HTTP_UNAUTHORIZED = 401;

interface ViewerResult {
  frameSequence: number;
  workerId: string;
  captureTimeUs: number;
  result: OverlayResult;
  stage?: ResolvedStage;
}

const KIND_OF_RESULT: [keyof Result, OverlayKind][] = [
  ['segmentation', 'segmentation'],
  ['detections', 'detections'],
  ['tracks', 'tracks'],
  ['keypoints', 'keypoints'],
  ['stage', 'stage'],
];

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('video');
const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;

const state = {
  mode: 'live' as 'live' | 'replay',
  streamId: '',
  enabled: new Set<OverlayKind>(OVERLAY_KINDS),
  matcher: new FrameMatcher<ImageBitmap | null, ViewerResult>({
    onDropped: (p) => p?.close(),
    // The capture restarted and counts from 1 again: trails are kept by sequence.
    onRestart: () => state.trails.clear(),
  }),
  trails: new TrackTrails(),
  stages: new Map<string, StageLayers>(),
  shown: undefined as { sequence: number; captureTimeUs: number; picture: ImageBitmap | null } | undefined,
  framesShown: 0,
  /** Frames of the current replay shown, and shown with a result for exactly that frame. */
  replayed: { shown: 0, matched: 0 },
  shownTimes: [] as number[],
  decoding: 0,
  browserDrops: 0,
  relayGaps: 0,
  lastRelaySequence: 0,
  lastFrameAgeMs: Number.NaN,
  lastRelayAgeMs: Number.NaN,
  sockets: [] as WebSocket[],
  generation: 0,
  /** Whose results are drawn: a worker id, '' for every worker, undefined until the first result. */
  workerId: undefined as string | undefined,
  workers: new Set<string>(),
};

function resetView(): void {
  state.matcher.reset();
  state.trails.clear();
  state.stages.clear();
  state.shown?.picture?.close();
  state.shown = undefined;
  state.lastRelaySequence = 0;
}

/** Turns a decoded Result into what the matcher holds; undefined for a payload it cannot show. */
function viewerResult(r: Result): { kind: OverlayKind; value: ViewerResult } | undefined {
  const entry = KIND_OF_RESULT.find(([field]) => r[field] !== undefined);
  if (entry === undefined) return undefined;
  const kind = entry[1];
  const value: ViewerResult = { frameSequence: r.frameSequence, workerId: r.workerId, captureTimeUs: r.captureTimeUs, result: r as OverlayResult };
  if (kind === 'stage') {
    let layers = state.stages.get(r.workerId);
    if (layers === undefined) {
      layers = new StageLayers();
      state.stages.set(r.workerId, layers);
    }
    try {
      value.stage = layers.apply(r.stage as Uint8Array);
    } catch (error) {
      console.warn(`stage message of ${r.workerId} at frame ${r.frameSequence} does not decode: ${(error as Error).message}`);
      return undefined;
    }
  }
  if (kind === 'tracks') state.trails.add(r.workerId, r.frameSequence, r.tracks?.tracks ?? []);
  return { kind, value };
}

function onResult(r: Result): void {
  if (!state.workers.has(r.workerId)) {
    state.workers.add(r.workerId);
    const select = $<HTMLSelectElement>('worker');
    select.append(el('option', { value: r.workerId }, r.workerId));
    // Each worker draws the same objects: show one (the first that answers) unless told otherwise.
    if (state.workerId === undefined) {
      state.workerId = r.workerId;
      select.value = r.workerId;
    }
  }
  if (state.workerId !== '' && r.workerId !== state.workerId) return;
  if (state.matcher.fromEndedRun(r)) return; // late, from before the capture restarted
  const v = viewerResult(r);
  if (v !== undefined) state.matcher.addResult(v.kind, v.value, performance.now());
}

function onFrame(frame: NonNullable<ViewerMessage['frame']>, generation: number): void {
  const now = performance.now();
  if (state.lastRelaySequence > 0 && frame.relaySequence > state.lastRelaySequence + 1) state.relayGaps += frame.relaySequence - state.lastRelaySequence - 1;
  state.lastRelaySequence = frame.relaySequence;
  state.lastFrameAgeMs = Date.now() - frame.captureTimeUs / 1000;
  if (frame.relayReceivedTimeUs > 0) state.lastRelayAgeMs = (frame.relayReceivedTimeUs - frame.captureTimeUs) / 1000;
  if (state.decoding >= MAX_DECODES_IN_FLIGHT) {
    state.browserDrops++;
    return;
  }
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    canvas.width = frame.width;
    canvas.height = frame.height;
  }
  state.decoding++;
  createImageBitmap(new Blob([frame.jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }))
    .then((bitmap) => {
      if (generation !== state.generation) return bitmap.close();
      state.matcher.addFrame(frame.sequence, frame.captureTimeUs, bitmap, now);
    })
    .catch((error: unknown) => console.warn(`frame ${frame.sequence} does not decode: ${String(error)}`))
    .finally(() => state.decoding--);
}

function draw(picture: ImageBitmap | null, sequence: number, overlays: MatchedOverlay<ViewerResult>[]): void {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#0b0d12';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (picture !== null) ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const toDraw: OverlayToDraw[] = overlays.map((o) => ({ kind: o.kind as OverlayKind, result: o.result.result, stage: o.result.stage, exact: o.exact }));
  drawOverlays(ctx, toDraw, state.enabled, state.trails, sequence);
  // For tests and the curious: what is on the canvas now.
  canvas.dataset.frameSequence = String(sequence);
  canvas.dataset.frameCaptureUs = String(state.shown?.captureTimeUs ?? 0);
  canvas.dataset.overlayExact = overlays.filter((o) => o.exact && state.enabled.has(o.kind as OverlayKind)).map((o) => o.kind).sort().join(',');
  canvas.dataset.framesShown = String(state.framesShown);
}

function render(): void {
  const now = performance.now();
  const matched = state.matcher.next(now);
  if (matched !== undefined) {
    if (state.shown?.picture && state.shown.picture !== matched.frame.picture) state.shown.picture.close();
    state.shown = { sequence: matched.frame.sequence, captureTimeUs: matched.frame.captureTimeUs, picture: matched.frame.picture };
    state.framesShown++;
    state.shownTimes.push(now);
    draw(matched.frame.picture, matched.frame.sequence, matched.overlays);
    if (state.mode === 'replay') {
      state.replayed.shown++;
      if (canvas.dataset.overlayExact !== '') state.replayed.matched++;
      const status = $('replay-status');
      status.dataset.shown = String(state.replayed.shown);
      status.dataset.matched = String(state.replayed.matched);
    }
  }
  while (state.shownTimes.length > 0 && now - state.shownTimes[0] > RATE_WINDOW_MS) state.shownTimes.shift();
  requestAnimationFrame(render);
}

function redraw(): void {
  if (state.shown !== undefined) draw(state.shown.picture, state.shown.sequence, state.matcher.overlaysFor(state.shown.sequence));
}

function wsUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/** Takes a token from the URL fragment (`#token=…`) into sessionStorage and out of the address bar. */
function takeTokenFromFragment(): void {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token === null) return;
  fragment.delete('token');
  if (token !== '') sessionStorage.setItem(TOKEN_STORAGE_KEY, token);
  const rest = fragment.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest === '' ? '' : `#${rest}`}`);
}

const storedToken = (): string => sessionStorage.getItem(TOKEN_STORAGE_KEY) ?? '';

function authorization(): Record<string, string> {
  const token = storedToken();
  return token === '' ? {} : { authorization: `Bearer ${token}` };
}

function base64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A WebSocket to the gateway, with the token (when there is one) in its subprotocol. */
function openSocket(path: string): WebSocket {
  const token = storedToken();
  const ws = new WebSocket(wsUrl(path), token === '' ? [WS_PROTOCOL] : [WS_PROTOCOL, `${WS_BEARER_PROTOCOL_PREFIX}${base64Url(token)}`]);
  ws.binaryType = 'arraybuffer';
  return ws;
}

/** The gateway refused the token (or wants one): ask for it, and go on once it is given. */
function askForToken(): void {
  const form = $('token-form');
  if (form.dataset.state === 'needed') return;
  closeSockets();
  form.dataset.state = 'needed';
  form.hidden = false;
  $('token-note').textContent = storedToken() === '' ? 'this gateway needs its token' : 'the gateway refused this token';
  $<HTMLInputElement>('token').focus();
}

/** Opens `path` and reopens it with backoff while this generation is current. */
function connect(path: string, onMessage: (data: Uint8Array) => void, generation: number, attempt = 0): void {
  if (generation !== state.generation) return;
  const ws = openSocket(path);
  state.sockets.push(ws);
  ws.onopen = () => {
    attempt = 0;
  };
  ws.onmessage = (e) => {
    if (generation === state.generation && e.data instanceof ArrayBuffer) onMessage(new Uint8Array(e.data));
  };
  ws.onclose = () => {
    state.sockets = state.sockets.filter((s) => s !== ws);
    if (generation !== state.generation || state.mode !== 'live') return;
    const delay = Math.min(RECONNECT_MS.max, RECONNECT_MS.initial * 2 ** attempt);
    setTimeout(() => connect(path, onMessage, generation, attempt + 1), delay);
  };
}

function closeSockets(): void {
  state.generation++;
  for (const ws of state.sockets) ws.close();
  state.sockets = [];
}

function goLive(): void {
  closeSockets();
  resetView();
  state.mode = 'live';
  $('mode').textContent = 'live';
  const generation = state.generation;
  if (state.streamId === '') return;
  const stream = encodeURIComponent(state.streamId);
  connect(`/ws/video?stream=${stream}`, (data) => {
    const m = ViewerMessage.decode(data);
    if (m.frame !== undefined) onFrame(m.frame, generation);
  }, generation);
  connect(`/ws?stream=${stream}`, (data) => onResult(Result.decode(data)), generation);
}

async function getJson(path: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const response = await fetch(path, { headers: authorization(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (response.status === HTTP_UNAUTHORIZED) askForToken();
  return { status: response.status, body: await response.json() };
}

const text = (value: unknown): string => String(value);
function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

async function pollHealth(): Promise<void> {
  try {
    const { status, body } = await getJson('/api/health');
    const badge = $('health-badge');
    badge.textContent = status === 200 ? 'healthy' : 'failing';
    badge.className = `badge ${status === 200 ? 'ok' : 'bad'}`;
    $('checks').replaceChildren(
      ...(body.checks as { name: string; ok: boolean; detail: string }[]).map((c) =>
        el('li', { title: c.detail }, el('span', { class: `dot ${c.ok ? 'ok' : 'bad'}` }), el('b', {}, c.name), el('span', { class: 'detail' }, c.detail)),
      ),
    );
  } catch {
    $('health-badge').textContent = 'gateway unreachable';
    $('health-badge').className = 'badge bad';
  }
}

const ms = (us: number) => (us / 1000).toFixed(1);

async function pollStats(): Promise<void> {
  try {
    const { body } = await getJson('/api/stats');
    const supplierWorkers = new Map<string, { dropsTotal: number; lastDeliveryAgeUs: number }>((body.supplier.workers ?? []).map((w: { workerId: string }) => [w.workerId, w]));
    const rows = (body.workers as { workerId: string; streamId: string; resultsPerSecond: number; latency: { p50Us: number; p99Us: number } }[])
      .filter((w) => state.streamId === '' || w.streamId === state.streamId)
      .map((w) => {
        const s = supplierWorkers.get(w.workerId);
        return el('tr', {}, el('td', {}, w.workerId), el('td', {}, w.resultsPerSecond.toFixed(1)), el('td', {}, text(s?.dropsTotal ?? '–')), el('td', {}, s ? ms(s.lastDeliveryAgeUs) : '–'), el('td', {}, `${ms(w.latency.p50Us)} / ${ms(w.latency.p99Us)}`));
      });
    $('workers').querySelector('tbody')?.replaceChildren(...rows);
    const targets = ['capture', 'supplier', ...new Set((body.supplier.workers ?? []).map((w: { workerId: string }) => w.workerId).filter((id: string) => !id.startsWith(RELAY_WORKER_PREFIX)))];
    $('targets').replaceChildren(...targets.map((t) => el('option', { value: String(t) })));
    const relay = (body.viewer?.relay?.streams ?? []).find((s: { streamId: string }) => s.streamId === state.streamId);
    const shownFps = state.shownTimes.length > 1 ? ((state.shownTimes.length - 1) * 1000) / (state.shownTimes[state.shownTimes.length - 1] - state.shownTimes[0]) : 0;
    const kv: [string, string][] = [
      ['shown', `${shownFps.toFixed(1)} fps, frame ${state.shown?.sequence ?? '–'}`],
      ['age at display', Number.isFinite(state.lastFrameAgeMs) ? `${state.lastFrameAgeMs.toFixed(0)} ms` : '–'],
      ['age at relay', Number.isFinite(state.lastRelayAgeMs) ? `${state.lastRelayAgeMs.toFixed(1)} ms` : '–'],
      ['relayed', relay ? `${relay.framesRelayed} (skipped ${relay.framesSkipped})` : '–'],
      ['dropped here', `${state.relayGaps} on the socket, ${state.browserDrops + state.matcher.framesDropped} in the page`],
      ['viewers', text(body.viewer?.video?.clients ?? '–')],
    ];
    $('video-stats').replaceChildren(...kv.flatMap(([k, v]) => [el('span', {}, k), el('span', {}, v)]));
  } catch {
    // the health badge says the gateway is unreachable
  }
}

function updateLiveLine(): void {
  const fps = state.shownTimes.length > 1 ? ((state.shownTimes.length - 1) * 1000) / (state.shownTimes[state.shownTimes.length - 1] - state.shownTimes[0]) : 0;
  const exact = canvas.dataset.overlayExact ?? '';
  $('live-line').textContent = state.shown === undefined ? (state.mode === 'live' ? 'waiting for frames…' : 'replaying…') : `${fps.toFixed(1)} fps · frame ${state.shown.sequence} · matched: ${exact || 'none'}`;
}

const PAYLOADS: Record<string, string> = {
  'capture.pause': '{}',
  'capture.resume': '{}',
  'capture.set_fps': '{"fps": 15}',
  'worker.set_analyzer': '{"analyzer": "motion", "settings": {"threshold": 30}}',
  'worker.set_fps': '{"fps": 0}',
  'supplier.set_limits': '{"maxWorkers": 64}',
};

function setupCommands(): void {
  const type = $<HTMLSelectElement>('cmd-type');
  const payload = $<HTMLTextAreaElement>('cmd-payload');
  const target = $<HTMLInputElement>('cmd-target');
  type.onchange = () => {
    payload.value = PAYLOADS[type.value] ?? '{}';
    const service = type.value.split('.')[0];
    if (service === 'worker' && !target.value.startsWith('worker')) target.value = 'worker-1';
    if (service !== 'worker') target.value = service;
  };
  $<HTMLFormElement>('command').onsubmit = async (event) => {
    event.preventDefault();
    const answer = $('cmd-answer');
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.value || '{}');
    } catch (error) {
      answer.className = 'answer failure';
      answer.textContent = `payload is not JSON: ${(error as Error).message}`;
      return;
    }
    const requestId = `viewer-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    answer.className = 'answer';
    answer.textContent = 'sending…';
    try {
      const response = await fetch('/api/commands', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...authorization() },
        body: JSON.stringify({ requestId, target: target.value, type: type.value, payload: parsed }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (response.status === HTTP_UNAUTHORIZED) askForToken();
      const body = await response.json();
      const ok = body.status === 'success';
      answer.className = `answer ${ok ? 'success' : 'failure'}`;
      answer.dataset.status = body.status ?? 'error';
      answer.textContent =
        body.status !== undefined
          ? `${body.status} from ${body.responder || 'nobody'} in ${(body.latencyUs / 1000).toFixed(1)} ms: ${body.message}`
          : `HTTP ${response.status}: ${body.error}${body.field ? ` (field ${body.field})` : ''}`;
    } catch (error) {
      answer.className = 'answer failure';
      answer.dataset.status = 'error';
      answer.textContent = `no answer: ${(error as Error).message}`;
    }
  };
}

function toLocalInput(us: number): string {
  const d = new Date(us / 1000 - new Date().getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

function fromLocalInput(value: string): number | undefined {
  if (value === '') return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? Math.round(ms * 1000) : undefined;
}

interface RecordedStream {
  streamId: string;
  fromTimeUs: number;
  toTimeUs: number;
  frames: boolean;
}

/** Loads what can be replayed; answers the HTTP status (401: the page needs the token). */
async function loadRecordedStreams(): Promise<number | undefined> {
  try {
    const { status, body } = await getJson('/api/replay/streams');
    if (status !== 200) return status;
    const streams = body.streams as RecordedStream[];
    const select = $<HTMLSelectElement>('replay-stream');
    const chosen = select.value || state.streamId;
    select.replaceChildren(...streams.map((s) => el('option', { value: s.streamId }, `${s.streamId}${s.frames ? ' (video)' : ''}`)));
    const current = streams.find((s) => s.streamId === chosen) ?? streams[0];
    if (current === undefined) return status;
    select.value = current.streamId;
    if ($<HTMLInputElement>('replay-from').value === '') {
      $<HTMLInputElement>('replay-from').value = toLocalInput(Math.max(current.fromTimeUs, current.toTimeUs - DEFAULT_REPLAY_SPAN_S * 1e6));
      $<HTMLInputElement>('replay-to').value = toLocalInput(current.toTimeUs + 1e6);
    }
    return status;
  } catch {
    return undefined; // the gateway did not answer; the health badge says so
  }
}

function setupReplay(): void {
  const status = $('replay-status');
  $<HTMLFormElement>('replay').onsubmit = (event) => {
    event.preventDefault();
    const streamId = $<HTMLSelectElement>('replay-stream').value;
    if (streamId === '') {
      status.textContent = 'nothing recorded yet';
      return;
    }
    closeSockets();
    resetView();
    state.mode = 'replay';
    $('mode').textContent = 'replay';
    const generation = state.generation;
    const query = new URLSearchParams({ stream: streamId, pace: $<HTMLSelectElement>('replay-pace').value, video: $<HTMLInputElement>('replay-video').checked ? 'on' : 'off' });
    const from = fromLocalInput($<HTMLInputElement>('replay-from').value);
    const to = fromLocalInput($<HTMLInputElement>('replay-to').value);
    if (from !== undefined) query.set('from', String(from));
    if (to !== undefined) query.set('to', String(to));
    const counts = { results: 0, frames: 0 };
    state.replayed = { shown: 0, matched: 0 };
    let framesSeen = false;
    status.dataset.state = 'playing';
    status.className = 'full answer';
    status.textContent = 'replaying…';
    delete status.dataset.shown;
    delete status.dataset.matched;
    const ws = openSocket(`/ws/replay?${query}`);
    state.sockets.push(ws);
    ws.onmessage = (e) => {
      if (generation !== state.generation || !(e.data instanceof ArrayBuffer)) return;
      const m = ViewerMessage.decode(new Uint8Array(e.data));
      if (m.frame !== undefined) {
        framesSeen = true;
        counts.frames++;
        onFrame(m.frame, generation);
      } else if (m.result !== undefined) {
        counts.results++;
        onResult(m.result);
        // Without recorded video, results are drawn on an empty canvas, one picture per frame.
        if (!framesSeen) state.matcher.addFrame(m.result.frameSequence, m.result.captureTimeUs, null, performance.now());
      } else if (m.replayEnd !== undefined) {
        status.dataset.state = m.replayEnd.error ? 'failed' : 'finished';
        status.className = `full answer ${m.replayEnd.error ? 'failure' : 'success'}`;
        status.textContent = m.replayEnd.error ? `replay failed: ${m.replayEnd.error}` : `finished: ${m.replayEnd.resultsSent} results, ${m.replayEnd.framesSent} frames`;
      }
      status.dataset.results = String(counts.results);
      status.dataset.frames = String(counts.frames);
      if (status.dataset.state === 'playing') status.textContent = `replaying: ${counts.results} results, ${counts.frames} frames`;
    };
    ws.onerror = () => {
      if (status.dataset.state === 'playing') {
        status.dataset.state = 'failed';
        status.className = 'full answer failure';
        status.textContent = 'replay refused (see the gateway log or the range)';
      }
    };
  };
  $('replay-live').onclick = () => goLive();
}

async function loadStreams(): Promise<void> {
  const select = $<HTMLSelectElement>('stream');
  try {
    const { body } = await getJson('/api/streams');
    const ids = (body.streams as { streamId: string }[]).map((s) => s.streamId);
    if (ids.length === 0) {
      setTimeout(() => void loadStreams(), HEALTH_POLL_MS);
      return;
    }
    select.replaceChildren(...ids.map((id) => el('option', { value: id }, id)));
    const wanted = new URLSearchParams(location.search).get('stream');
    state.streamId = wanted !== null && ids.includes(wanted) ? wanted : ids[0];
    select.value = state.streamId;
    goLive();
  } catch {
    setTimeout(() => void loadStreams(), HEALTH_POLL_MS);
  }
}

function setupToken(): void {
  $<HTMLFormElement>('token-form').onsubmit = async (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('token');
    if (input.value === '') return;
    sessionStorage.setItem(TOKEN_STORAGE_KEY, input.value);
    input.value = '';
    const form = $('token-form');
    delete form.dataset.state;
    form.hidden = true;
    await start();
  };
}

/** Goes live once the gateway lets this page read (with its token, when it has one). */
async function start(): Promise<void> {
  if ((await loadRecordedStreams()) === HTTP_UNAUTHORIZED) return;
  // For tests and the curious: whether this page reads with a token.
  $('token-form').dataset.state = storedToken() === '' ? 'none' : 'accepted';
  if (state.streamId === '') await loadStreams();
  else goLive();
}

function main(): void {
  takeTokenFromFragment();
  for (const input of document.querySelectorAll<HTMLInputElement>('#toggles input[data-kind]')) {
    input.onchange = () => {
      const kind = input.dataset.kind as OverlayKind;
      if (input.checked) state.enabled.add(kind);
      else state.enabled.delete(kind);
      redraw();
    };
  }
  $<HTMLSelectElement>('worker').onchange = (e) => {
    state.workerId = (e.target as HTMLSelectElement).value;
    state.matcher.reset();
    state.trails.clear();
    state.stages.clear();
  };
  $<HTMLSelectElement>('stream').onchange = (e) => {
    state.streamId = (e.target as HTMLSelectElement).value;
    goLive();
  };
  setupCommands();
  setupReplay();
  setupToken();
  void start();
  void pollHealth();
  setInterval(() => void pollHealth(), HEALTH_POLL_MS);
  setInterval(() => {
    void pollStats();
    updateLiveLine();
  }, STATS_POLL_MS);
  setInterval(() => void loadRecordedStreams(), HEALTH_POLL_MS * 5);
  requestAnimationFrame(render);
}

main();
