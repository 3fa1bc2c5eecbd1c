// docs/reference/ is made from the code (support/docs.ts, `npm run docs`):
// a page that no longer says what the code says fails here.
import fs from 'node:fs';
import path from 'node:path';
import { referencePages } from '../../support/docs';

const root = path.resolve(__dirname, '../..');

test.each(Object.entries(referencePages()))('%s is what `npm run docs` makes of the code now', (file, content) => {
  const onDisk = fs.existsSync(path.join(root, file)) ? fs.readFileSync(path.join(root, file), 'utf8') : '(missing)';
  if (onDisk !== content) throw new Error(`${file} is stale: run \`npm run docs\` and commit it`);
  expect(onDisk).toBe(content);
});
