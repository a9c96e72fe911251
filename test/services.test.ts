/**
 * A local service counts as started only when the process it started holds its ports (issue 18:
 * under load, the outage test's own S3 server stopped answering just after it was "ready"). Ports
 * are chosen free just before the start, so another process can take one in between; a readiness
 * probe answered by that other process must not pass for the new service.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { startS3DevServer } from '../infra/devstack.ts';
import { listensOn } from '../infra/listeners.ts';
import { freePorts, PortTakenError, serviceStatus, stopService } from '../infra/services.ts';
import { tempDir } from './helpers/env.ts';

const listen = (port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });

test('listensOn tells this process its own listening port from a port it does not hold', async (t) => {
  const [mine, nobody] = await freePorts(2);
  const server = await listen(mine!);
  t.teardown(() => server.close());
  t.true(listensOn(process.pid, mine!));
  t.false(listensOn(process.pid, nobody!), 'nothing listens there');
  t.false(listensOn(process.ppid, mine!), 'another process does not hold this one');
  // A process that has exited (as a service does when its bind fails) holds nothing.
  const gone = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => gone.once('exit', resolve));
  t.false(listensOn(gone.pid!, mine!));
});

test('an S3 dev server started on a port that another S3 server answers is refused, naming the port', async (t) => {
  const [port, unused] = await freePorts(2);
  const first = tempDir('services-first');
  const second = tempDir('services-second');
  const options = { temporalPort: unused!, temporalUiPort: unused!, s3Port: port!, ui: false };
  const running = await startS3DevServer({ ...options, stateDir: first });
  t.teardown(() => stopService(join(first, 's3'), 'seaweedfs'));
  // The same credentials: the running server answers the second one's readiness probe.
  mkdirSync(join(second, 's3'), { recursive: true, mode: 0o700 });
  copyFileSync(join(first, 's3', 'credentials.json'), join(second, 's3', 'credentials.json'));

  const err = await t.throwsAsync(startS3DevServer({ ...options, stateDir: second }), {
    instanceOf: PortTakenError,
  });
  t.is(err.port, port!);
  t.regex(err.message, new RegExp(`another process listens on 127\\.0\\.0\\.1:${port},`));
  t.false(serviceStatus(join(second, 's3'), 'seaweedfs').running, 'the refused start left no process');
  t.true(listensOn(running.pid, port!), 'the first server is untouched');
});

test('starting the S3 dev server again on the same state folder reuses the running one', async (t) => {
  const [port, unused] = await freePorts(2);
  const stateDir = tempDir('services-reuse');
  const options = { stateDir, temporalPort: unused!, temporalUiPort: unused!, s3Port: port!, ui: false };
  const first = await startS3DevServer(options);
  t.teardown(() => stopService(join(stateDir, 's3'), 'seaweedfs'));
  const again = await startS3DevServer(options);
  t.true(again.reused);
  t.is(again.pid, first.pid);
});
