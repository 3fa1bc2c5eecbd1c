// npm run docs: writes docs/reference/ from the code (support/docs.ts, built
// into dist/ by `npm run build`, which `npm run docs` runs first).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(import.meta.dirname, '..');
const { referencePages } = createRequire(import.meta.url)(path.join(root, 'dist/support/docs.js'));
for (const [file, content] of Object.entries(referencePages())) {
  const to = path.join(root, file);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  const before = fs.existsSync(to) ? fs.readFileSync(to, 'utf8') : undefined;
  if (before !== content) fs.writeFileSync(to, content);
  console.log(`${before === content ? 'unchanged' : 'written  '} ${file}`);
}
