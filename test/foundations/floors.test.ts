// The floors of src/ (docs/design/layout.md): each file imports only from
// its own floor or the floors below it, the leaves import only leaves, and
// no chain of imports comes back to where it started. Type-only imports
// count: a type that runs back up is knowledge in the wrong room. The graph
// is read from the sources with their relative imports.
import fs from 'node:fs';
import path from 'node:path';

const src = path.resolve(__dirname, '../../src');

/** Floors from the top (0) down; a leaf (Infinity) may be used by every floor and uses only leaves. */
const FLOORS: Array<[string, number]> = [
  ['cli/', 1],
  // The composition: the worker process, and the one root that builds pool, store and client from config.
  ['worker.ts', 1.5],
  ['deps.ts', 1.6],
  ['http/', 2],
  ['hub/', 3],
  ['ops/', 4],
  ['workflows/', 6],
  ['activities/', 7],
  // Starting, signalling and describing runs with a Temporal client: the hub, the CLI and the activities that start runs use it.
  ['client/', 7.5],
  ['push/', 8],
  ['objects/', 8],
  ['db/', 9],
  ['config/', 9],
  ['generate/', 9],
  ['bundle/', 10],
  ['storage/', 10],
  ['metrics/', 10],
  ['contract/', Infinity],
  ['lib/', Infinity],
  ['address.ts', Infinity],
];

function floorOf(rel: string): number {
  const f = FLOORS.find(([prefix]) => rel === prefix || rel.startsWith(prefix));
  if (!f) throw new Error(`src/${rel} is on no floor: add its folder to FLOORS here and to docs/design/layout.md`);
  return f[1];
}

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.split(path.sep).join('/'));
}

/** The files of src/ each file imports (relative imports, type-only ones included). */
function graph(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rel of files(src)) {
    const text = fs.readFileSync(path.join(src, rel), 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(/(?:from|import|require\()\s*'(\.[^']+)'/g)) {
      const base = path.join(path.dirname(path.join(src, rel)), m[1]!);
      const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
      if (hit) targets.push(path.relative(src, hit).split(path.sep).join('/'));
    }
    out.set(rel, targets);
  }
  return out;
}

test('every file of src/ imports only from its floor or below; leaves only from leaves', () => {
  const up: string[] = [];
  for (const [from, targets] of graph()) {
    for (const to of targets) {
      const [a, b] = [floorOf(from), floorOf(to)];
      if (b < a) up.push(`${from} (floor ${a}) → ${to} (floor ${b})`);
    }
  }
  expect(up).toEqual([]);
});

test('no import cycles', () => {
  const g = graph();
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of g.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' → '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f);
  expect(cycles).toEqual([]);
});

test('at most four loose files in src/', () => {
  const loose = fs.readdirSync(src).filter((f) => f.endsWith('.ts'));
  expect(loose.length).toBeLessThanOrEqual(4);
});
