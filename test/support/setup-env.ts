// Runs before each test file's modules load.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { installHashSpy } from './hash-spy';

installHashSpy();

// Temporal's workers log every state change at INFO; tests keep warnings and errors.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed for this process by an earlier test file.
}
