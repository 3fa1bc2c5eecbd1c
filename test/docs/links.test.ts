// The documentation holds together: every relative link of README.md and
// docs/ names a file that exists (and a heading of it, when it has an
// anchor), and every `docs/….md` a code comment points at exists, with its
// anchor. Anchors as GitHub makes them from headings.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

function markdownFiles(): string[] {
  const docs = fs.readdirSync(path.join(root, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md'));
  return ['README.md', 'bench/README.md', ...docs.map((f) => path.join('docs', f))];
}

/** GitHub's anchor of a heading: lower case, punctuation dropped but hyphens and underscores, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const out = new Set<string>();
  let code = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) code = !code;
    const m = /^#{1,6} (.*)$/.exec(line);
    if (m && !code) out.add(anchorOf(m[1]!));
  }
  return out;
}

/** A link's target from `from`, and whether it is there. */
function broken(from: string, target: string): string | undefined {
  const [file, anchor] = target.split('#') as [string, string | undefined];
  const resolved = file === '' ? from : path.normalize(path.join(path.dirname(from), file));
  if (resolved.startsWith('..')) return undefined; // ../shared: beside the project, not in it
  if (!fs.existsSync(path.join(root, resolved))) return `${from} → ${target}: no file ${resolved}`;
  if (anchor && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) return `${from} → ${target}: no heading #${anchor} in ${resolved}`;
  return undefined;
}

test('every relative link of README.md and docs/ resolves, anchors included', () => {
  const problems: string[] = [];
  for (const file of markdownFiles()) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const b = broken(file, target);
      if (b) problems.push(b);
    }
  }
  expect(problems).toEqual([]);
});

test('every docs/….md a comment in the code points at exists, with its anchor', () => {
  const problems: string[] = [];
  for (const dir of ['src', 'support', 'scripts', 'bench', 'test']) {
    for (const f of fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (!/\.(ts|mjs|js)$/.test(f)) continue;
      const text = fs.readFileSync(path.join(root, dir, f), 'utf8');
      for (const m of text.matchAll(/\bdocs\/[\w./-]+\.md(#[\w-]+)?/g)) {
        const b = broken('README.md', m[0]);
        if (b) problems.push(`${dir}/${f}: ${b}`);
      }
    }
  }
  expect(problems).toEqual([]);
});
