// Jest's order (slowest and largest suites first), except that the container suites come last:
// each keeps a whole pipeline of containers analysing video, and the timing-sensitive suites
// (frame ages, latencies) must not share the machine's two cores with them. Among themselves the
// longest comes first, so the other worker runs the shorter ones beside it.
const Sequencer = require('@jest/test-sequencer').default;
const { sep } = require('node:path');

const CONTAINER_SUITES = `${sep}apps${sep}e2e-containers${sep}`;
const CONTAINER_ORDER = ['compose-stack.spec.ts', 'compose-tls.spec.ts'];

const rank = (test) => {
  const i = CONTAINER_ORDER.findIndex((name) => test.path.endsWith(`${sep}${name}`));
  return i === -1 ? CONTAINER_ORDER.length : i;
};

class ContainerSuitesLast extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const isContainer = (t) => t.path.includes(CONTAINER_SUITES);
    return [...sorted.filter((t) => !isContainer(t)), ...sorted.filter(isContainer).sort((a, b) => rank(a) - rank(b))];
  }
}

module.exports = ContainerSuitesLast;
