// A producer: an application service publishing user changes with the SDK.
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 node examples/producer.mjs
//
// It reads user-sync.config.json (or USER_SYNC_CONFIG) for the targets, like the worker does.
import { Redis } from 'ioredis';
import { UserEventPublisher, UserSyncIntegration, createLogger, loadConfig } from '../dist/index.js';

const config = loadConfig();
const redis = new Redis(config.redisUrl ?? 'redis://127.0.0.1:6379');
const publisher = new UserEventPublisher(redis, 'accounts', {
  config,
  logger: createLogger({ level: 'warn' }),
});

// Pass the row's own version when you have one; otherwise user-sync assigns the next one.
const created = await publisher.publishUserCreated({
  id: 42,
  username: 'ada',
  email: 'ada@example.com',
  role: 'admin',
  status: 'active',
});
console.log('created', created); // { eventId, version: 1, tasks: ['<eventId>.orders', ...], ... }

await publisher.publishUserUpdated(
  { id: 42, username: 'ada', email: 'ada@example.org', role: 'admin', status: 'active' },
  {
    email: 'ada@example.org',
  },
);
await publisher.publishUserStatusChanged({ id: 42, username: 'ada', status: 'suspended' }, 'active');

// The Go package's hooks, same arguments:
const sync = new UserSyncIntegration(publisher);
await sync.onUserCreated(43, 'grace', 'grace@example.com', 'guest', 'active', '+15550100');
await sync.onUserDeleted(43, 'grace', 'grace@example.com');

await publisher.close();
await redis.quit();
