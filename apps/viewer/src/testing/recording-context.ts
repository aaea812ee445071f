// A fake 2D context for the viewer's unit tests: it records each drawing call as a line of text.
import { Canvas2D } from '../canvas';

/** A 2D context that records what is drawn. */
export function recordingContext() {
  const calls: string[] = [];
  const ctx: Canvas2D = {
    save: () => calls.push('save'),
    restore: () => calls.push('restore'),
    setTransform: (...m: number[]) => calls.push(`transform ${m.join(',')}`),
    beginPath: () => calls.push('begin'),
    closePath: () => calls.push('close'),
    moveTo: (x, y) => calls.push(`move ${x},${y}`),
    lineTo: (x, y) => calls.push(`line ${x},${y}`),
    arc: (x, y, r) => calls.push(`arc ${x},${y} r${r}`),
    rect: (x, y, w, h) => calls.push(`rect ${x},${y} ${w}x${h}`),
    fill: () => calls.push(`fill ${String(ctx.fillStyle)}`),
    stroke: () => calls.push(`stroke ${String(ctx.strokeStyle)} ${ctx.lineWidth}`),
    fillRect: (x, y, w, h) => calls.push(`fillRect ${x},${y} ${w}x${h}`),
    fillText: (t, x, y) => calls.push(`text "${t}" ${x},${y} ${ctx.font}`),
    measureText: (t) => ({ width: t.length * 6 }),
    drawImage: (_i, x, y, w, h) => calls.push(`image ${x},${y} ${w}x${h}`),
    fillStyle: '',
    strokeStyle: '',
    lineWidth: 1,
    font: '',
    globalAlpha: 1,
    textBaseline: '',
  };
  return { ctx, calls };
}
