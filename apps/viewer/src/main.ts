// The live viewer page's wiring: finds the elements, binds the forms and toggles, and connects the
// modules that hold the logic (stream-controller: frames and results into the matcher; render:
// drawing; connection: sockets with reconnect; replay-controller; stats-panel; command-form;
// token-prompt; gateway-access: the token and requests). Everything it decodes comes from proto/
// (@framewire/proto/browser) and libs/overlay-codecs (stage), the same code as the services. With
// FW_AUTH_TOKEN set, the page asks for the token once (or takes it from the URL fragment `#token=`,
// which browsers never send) and keeps it in sessionStorage; it sends it in the Authorization header
// and, on WebSockets, in a subprotocol.
import { Result, ViewerMessage } from '@framewire/proto/browser';
import { commandTypeChosen, CommandAnswer, newRequestId, parseCommandPayload, sendCommand } from './command-form';
import { PageSockets } from './connection';
import { GatewayHttp, HTTP_UNAUTHORIZED, socketProtocols, storedToken, takeTokenFromFragment, webSocketUrl } from './gateway-access';
import { OverlayKind, pointTextAt } from './overlays';
import { redraw, RenderTarget, renderTick } from './render';
import { defaultReplayRange, pickRecordedStream, RecordedStream, ReplayProgress, replayPath } from './replay-controller';
import { commandTargets, healthBadge, HealthCheck, HEALTH_POLL_MS, liveLine, poolViews, StatsBody, STATS_POLL_MS, videoStats, workerRows } from './stats-panel';
import { createViewState, chooseWorker, receiveFrame, receiveResult, resetView } from './stream-controller';
import { TokenPrompt } from './token-prompt';

/** How often the replay form's list of recorded streams is refreshed. */
const RECORDED_STREAMS_POLL_MS = HEALTH_POLL_MS * 5;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const canvas = $<HTMLCanvasElement>('video');
const target: RenderTarget = { ctx: canvas.getContext('2d') as CanvasRenderingContext2D, canvas, replayStatus: $('replay-status').dataset };
const state = createViewState<ImageBitmap>();
const sockets = new PageSockets({
  open: (path) => {
    const ws = new WebSocket(webSocketUrl(location, path), socketProtocols(storedToken(sessionStorage)));
    ws.binaryType = 'arraybuffer';
    return ws;
  },
  reconnects: () => state.mode === 'live',
  schedule: (run, delayMs) => setTimeout(run, delayMs),
});
const tokenPrompt = new TokenPrompt({
  storage: sessionStorage,
  onNeeded: () => sockets.closeAll(),
  view: {
    show: (note) => {
      const form = $('token-form');
      form.hidden = note === undefined;
      if (note === undefined) return;
      $('token-note').textContent = note;
      $<HTMLInputElement>('token').focus();
    },
    setState: (s) => {
      if (s === undefined) delete $('token-form').dataset.state;
      else $('token-form').dataset.state = s;
    },
  },
});
const http = new GatewayHttp({ fetch: (path, init) => fetch(path, init), token: () => storedToken(sessionStorage), onUnauthorized: () => tokenPrompt.ask() });

function onFrame(frame: NonNullable<ViewerMessage['frame']>, generation: number): void {
  void receiveFrame(state, frame, generation, {
    decode: (jpeg) => createImageBitmap(new Blob([jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' })),
    isCurrent: (g) => g === sockets.generation,
    resize: (width, height) => {
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
    },
    nowMs: performance.now(),
    wallClockMs: Date.now(),
  });
}

function onResult(r: Result): void {
  const { newWorker, chosenWorker } = receiveResult(state, r, performance.now());
  const select = $<HTMLSelectElement>('worker');
  if (newWorker !== undefined) select.append(el('option', { value: newWorker }, newWorker));
  if (chosenWorker !== undefined) select.value = chosenWorker;
}

/** Where the pointer is over the canvas, in frame pixels (undefined: elsewhere). */
let pointer: { x: number; y: number } | undefined;

/** The keypoint under the pointer (its name and confidence) as the canvas's tooltip. */
function showPointTooltip(): void {
  const text = pointer === undefined ? undefined : pointTextAt(state.drawn.points, pointer.x, pointer.y);
  if (canvas.title !== (text ?? '')) canvas.title = text ?? '';
}

function render(): void {
  const shown = state.framesShown;
  renderTick(state, target, performance.now());
  if (state.framesShown !== shown) showPointTooltip();
  requestAnimationFrame(render);
}

function goLive(): void {
  sockets.closeAll();
  resetView(state);
  state.mode = 'live';
  $('mode').textContent = 'live';
  const generation = sockets.generation;
  if (state.streamId === '') return;
  const stream = encodeURIComponent(state.streamId);
  sockets.connect(`/ws/video?stream=${stream}`, (data) => {
    const m = ViewerMessage.decode(data);
    if (m.frame !== undefined) onFrame(m.frame, generation);
  }, generation);
  sockets.connect(`/ws?stream=${stream}`, (data) => onResult(Result.decode(data)), generation);
}

async function pollHealth(): Promise<void> {
  const badge = $('health-badge');
  try {
    const { status, body } = await http.getJson('/api/health');
    const { text, ok } = healthBadge(status);
    badge.textContent = text;
    badge.className = `badge ${ok ? 'ok' : 'bad'}`;
    $('checks').replaceChildren(
      ...(body.checks as HealthCheck[]).map((c) =>
        el('li', { title: c.detail }, el('span', { class: `dot ${c.ok ? 'ok' : 'bad'}` }), el('b', {}, c.name), el('span', { class: 'detail' }, c.detail)),
      ),
    );
  } catch {
    badge.textContent = 'gateway unreachable';
    badge.className = 'badge bad';
  }
}

/** The pools table (hidden while the supplier has no pool): one body per pool, its caption first. */
function showPools(body: StatsBody): void {
  const pools = poolViews(body);
  $('pools-section').hidden = pools.length === 0;
  const table = $('pools');
  const head = table.querySelector('thead') as HTMLElement;
  table.replaceChildren(
    head,
    ...pools.map((p) =>
      el(
        'tbody',
        { 'data-pool': p.poolId },
        el('tr', { class: 'pool' }, el('th', { colspan: '5' }, p.caption)),
        ...p.rows.map((r) => el('tr', { 'data-stream': r.streamId }, ...r.cells.map((c) => el('td', {}, c)))),
      ),
    ),
  );
}

async function pollStats(): Promise<void> {
  try {
    const body = (await http.getJson('/api/stats')).body as StatsBody;
    const rows = workerRows(body, state.streamId).map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, c))));
    $('workers').querySelector('tbody')?.replaceChildren(...rows);
    showPools(body);
    $('targets').replaceChildren(...commandTargets(body).map((t) => el('option', { value: t })));
    $('video-stats').replaceChildren(...videoStats(state, body).flatMap(([k, v]) => [el('span', {}, k), el('span', {}, v)]));
  } catch {
    // the health badge says the gateway is unreachable
  }
}

function showCommandAnswer(answer: CommandAnswer): void {
  const line = $('cmd-answer');
  line.className = `answer ${answer.ok ? 'success' : 'failure'}`;
  if (answer.status !== undefined) line.dataset.status = answer.status;
  line.textContent = answer.text;
}

function setupCommands(): void {
  const type = $<HTMLSelectElement>('cmd-type');
  const payload = $<HTMLTextAreaElement>('cmd-payload');
  const commandTarget = $<HTMLInputElement>('cmd-target');
  type.onchange = () => {
    const chosen = commandTypeChosen(type.value, commandTarget.value);
    payload.value = chosen.payload;
    commandTarget.value = chosen.target;
  };
  $<HTMLFormElement>('command').onsubmit = async (event) => {
    event.preventDefault();
    const parsed = parseCommandPayload(payload.value);
    if ('answer' in parsed) return showCommandAnswer(parsed.answer);
    const answer = $('cmd-answer');
    answer.className = 'answer';
    answer.textContent = 'sending…';
    showCommandAnswer(await sendCommand(http, { requestId: newRequestId(Date.now(), Math.random()), target: commandTarget.value, type: type.value, payload: parsed.payload }));
  };
}

/** Loads what can be replayed; answers the HTTP status (401: the page needs the token). */
async function loadRecordedStreams(): Promise<number | undefined> {
  try {
    const { status, body } = await http.getJson('/api/replay/streams');
    if (status !== 200) return status;
    const streams = body.streams as RecordedStream[];
    const select = $<HTMLSelectElement>('replay-stream');
    const current = pickRecordedStream(streams, select.value || state.streamId);
    select.replaceChildren(...streams.map((s) => el('option', { value: s.streamId }, `${s.streamId}${s.frames ? ' (video)' : ''}`)));
    if (current === undefined) return status;
    select.value = current.streamId;
    if ($<HTMLInputElement>('replay-from').value === '') {
      const range = defaultReplayRange(current);
      $<HTMLInputElement>('replay-from').value = range.from;
      $<HTMLInputElement>('replay-to').value = range.to;
    }
    return status;
  } catch {
    return undefined; // the gateway did not answer; the health badge says so
  }
}

function setupReplay(): void {
  const status = $('replay-status');
  /** The replay playing (or last played); a failing socket marks the one playing now. */
  let replay = new ReplayProgress();
  const showProgress = () => {
    status.dataset.state = replay.state;
    status.className = replay.ok === undefined ? 'full answer' : `full answer ${replay.ok ? 'success' : 'failure'}`;
    status.textContent = replay.text;
  };
  $<HTMLFormElement>('replay').onsubmit = (event) => {
    event.preventDefault();
    const streamId = $<HTMLSelectElement>('replay-stream').value;
    if (streamId === '') {
      status.textContent = 'nothing recorded yet';
      return;
    }
    sockets.closeAll();
    resetView(state);
    state.mode = 'replay';
    $('mode').textContent = 'replay';
    const generation = sockets.generation;
    const path = replayPath({
      streamId,
      pace: $<HTMLSelectElement>('replay-pace').value,
      video: $<HTMLInputElement>('replay-video').checked,
      from: $<HTMLInputElement>('replay-from').value,
      to: $<HTMLInputElement>('replay-to').value,
    });
    state.replayed = { shown: 0, matched: 0 };
    const progress = (replay = new ReplayProgress());
    showProgress();
    delete status.dataset.shown;
    delete status.dataset.matched;
    const ws = sockets.openOnce(path);
    ws.onmessage = (e) => {
      if (generation !== sockets.generation || !(e.data instanceof ArrayBuffer)) return;
      const m = ViewerMessage.decode(new Uint8Array(e.data));
      const kind = progress.receive(m);
      if (kind === 'frame') onFrame(m.frame as NonNullable<ViewerMessage['frame']>, generation);
      else if (kind === 'result') {
        const result = m.result as Result;
        onResult(result);
        // Without recorded video, results are drawn on an empty canvas, one picture per frame.
        if (!progress.framesSeen) state.matcher.addFrame(result.frameSequence, result.captureTimeUs, null, performance.now());
      }
      if (kind === 'end') showProgress();
      status.dataset.results = String(progress.results);
      status.dataset.frames = String(progress.frames);
      if (progress.state === 'playing') status.textContent = progress.text;
    };
    ws.onerror = () => {
      if (replay.state !== 'playing') return;
      replay.socketFailed();
      showProgress();
    };
  };
  $('replay-live').onclick = () => goLive();
}

async function loadStreams(): Promise<void> {
  const select = $<HTMLSelectElement>('stream');
  try {
    const { body } = await http.getJson('/api/streams');
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
    if (!tokenPrompt.submit(input.value)) return;
    input.value = '';
    await start();
  };
}

/** Goes live once the gateway lets this page read (with its token, when it has one). */
async function start(): Promise<void> {
  if ((await loadRecordedStreams()) === HTTP_UNAUTHORIZED) return;
  tokenPrompt.reading();
  if (state.streamId === '') await loadStreams();
  else goLive();
}

function main(): void {
  const rest = takeTokenFromFragment(location.hash.slice(1), sessionStorage);
  if (rest !== undefined) history.replaceState(null, '', `${location.pathname}${location.search}${rest === '' ? '' : `#${rest}`}`);
  for (const input of document.querySelectorAll<HTMLInputElement>('#toggles input[data-kind]')) {
    input.onchange = () => {
      const kind = input.dataset.kind as OverlayKind;
      if (input.checked) state.enabled.add(kind);
      else state.enabled.delete(kind);
      redraw(state, target);
    };
  }
  canvas.onmousemove = (e) => {
    const box = canvas.getBoundingClientRect();
    pointer = { x: ((e.clientX - box.left) * canvas.width) / box.width, y: ((e.clientY - box.top) * canvas.height) / box.height };
    showPointTooltip();
  };
  canvas.onmouseleave = () => {
    pointer = undefined;
    showPointTooltip();
  };
  $<HTMLSelectElement>('worker').onchange = (e) => chooseWorker(state, (e.target as HTMLSelectElement).value);
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
    $('live-line').textContent = liveLine(state, canvas.dataset.overlayExact ?? '');
  }, STATS_POLL_MS);
  setInterval(() => void loadRecordedStreams(), RECORDED_STREAMS_POLL_MS);
  requestAnimationFrame(render);
}

main();
