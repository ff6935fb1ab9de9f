// Fixes postgres.js 3.4.9 for connections whose backend dies while a transaction holds them
// (a backend killed, Postgres restarted): porsager/postgres#1208, #1154, fixes proposed in
// #1168 / #1209, none released. Unpatched, the transaction's ROLLBACK is written to the dead
// connection: socket.write on a null socket from a setImmediate callback (an uncaught TypeError
// that ends the process), or stale bytes and a stale error carried into the next connection
// made on that slot (pool queries then fail or hang).
// The patch: a query handed to a closed connection, or to one still starting up again, fails
// with CONNECTION_CLOSED; closing fails every query still waiting on that socket (also after a
// socket error, where a ROLLBACK queued after the error was left waiting forever) and forgets
// the unsent bytes, the write timer, the current query and its error; a write that still finds
// no socket fails its queries instead of throwing.
// Run by `npm install` (postinstall). Idempotent; fails loudly if the library changed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARK = '/* imagine-bot: closed-connection patch */';
const EXPECTED_VERSION = '3.4.9';

const edits = [
  {
    from: '    terminate,\n    execute,\n    cancel,',
    to:
      '    terminate,\n' +
      '    execute: q => connection.queue === queues.closed || (connection.queue === queues.connecting && initial) ' +
      MARK +
      '\n' +
      "      ? (queryError(q, Errors.connection('CONNECTION_CLOSED', options)), true)\n" +
      '      : execute(q),\n' +
      '    cancel,',
  },
  {
    from: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    to:
      '  function nextWrite(fn) {\n' +
      '    if (!socket) {\n' +
      "      const err = Errors.connection('CONNECTION_CLOSED', options)\n" +
      '      query && queryError(query, err)\n' +
      '      while (sent.length) queryError(sent.shift(), err)\n' +
      '      query = chunk = nextWriteTimer = null\n' +
      '      return false\n' +
      '    }\n' +
      '    const x = socket.write(chunk, fn)',
  },
  {
    from: "    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)",
    to: "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener('data', data)",
  },
  {
    from: "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n",
    to:
      "    if (query || sent.length) error(Errors.connection('CONNECTION_CLOSED', options, socket))\n" +
      '    query = errorResponse = null\n',
  },
];

const root = fileURLToPath(new URL('../node_modules/postgres/', import.meta.url));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (version !== EXPECTED_VERSION) {
  console.error(
    `scripts/patch-postgres.mjs: postgres ${version} is installed, the patch is for ${EXPECTED_VERSION}; check whether it is still needed and update it`,
  );
  process.exit(1);
}
for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
  const path = join(root, file);
  let text = readFileSync(path, 'utf8');
  if (text.includes(MARK)) continue;
  for (const { from, to } of edits) {
    if (text.split(from).length !== 2) {
      console.error(`scripts/patch-postgres.mjs: unexpected text in ${path}; not patched`);
      process.exit(1);
    }
    text = text.replace(from, to);
  }
  writeFileSync(path, text);
  console.log(`patched ${path}`);
}
