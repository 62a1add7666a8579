// A producer that has nothing but a Redis URL: no config file, no target list, no secrets.
// Its targets come from the deployment's target registry in Redis, which workers write when
// they start (or `user-sync targets apply`).
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 node examples/producer-only.mjs
//
// USER_SYNC_PREFIX names the deployment when its prefix is not the default. Each result is
// printed as a JSON line.
import { Redis } from 'ioredis';
import { UserEventPublisher, UserSyncIntegration } from '../dist/index.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
try {
  // The Go package's hooks, built from the connection and this service's name.
  const sync = new UserSyncIntegration(redis, 'accounts');
  const created = await sync.onUserCreated(42, 'ada', 'ada@example.com', 'admin', 'active');
  console.log(JSON.stringify(created));
  const publisher = new UserEventPublisher(redis, 'accounts');
  const updated = await publisher.publishUserUpdated({ id: 42, username: 'ada', email: 'ada@example.org' });
  console.log(JSON.stringify(updated));
} catch (error) {
  // No targets anywhere: a ConfigError that says where it looked and what to do.
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  process.exitCode = 1;
} finally {
  await redis.quit();
}
