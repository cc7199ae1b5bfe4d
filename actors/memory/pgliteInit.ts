// Creates a PGlite data folder (initdb) in a child process, run as `node pgliteInit.js <dataDir> <sharedBuffers>`
// by PgliteStore: initdb's WebAssembly instance grows to several hundred MB, and a process gives all of it
// back when it exits (in the node's own process much of it would stay resident), and the node's event
// loop is not blocked for the seconds initdb takes. Exits 0 once the folder is ready, 1 with the error on stderr.
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';

const [dataDir, sharedBuffers] = process.argv.slice(2);
try {
  if (dataDir === undefined || sharedBuffers === undefined) throw new Error('usage: pgliteInit <dataDir> <sharedBuffers>');
  const db = await PGlite.create({ dataDir, extensions: { vector }, startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffers}`] });
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  await db.close();
  process.exit(0);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
