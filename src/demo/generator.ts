/**
 * The demo's stream of user events: a fixed set of user ids that get created, updated, change
 * status, are deleted and come back. Pure apart from its random source.
 */
import { EventType, type UserEventInput, type UserSnapshot } from '../events.js';

const FIRST = [
  'ada',
  'grace',
  'alan',
  'edsger',
  'barbara',
  'ken',
  'margaret',
  'linus',
  'frances',
  'dennis',
  'radia',
  'john',
  'katherine',
  'tim',
  'hedy',
  'donald',
];
const LAST = [
  'lovelace',
  'hopper',
  'turing',
  'dijkstra',
  'liskov',
  'thompson',
  'hamilton',
  'torvalds',
  'allen',
  'ritchie',
  'perlman',
  'mccarthy',
  'johnson',
  'berners-lee',
  'lamarr',
  'knuth',
];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net'];
const ROLES = ['guest', 'member', 'member', 'member', 'support', 'admin'];
const STATUSES = ['active', 'inactive', 'pending', 'suspended'];

/** Share of updates, status changes and deletes among events on a live user. */
const UPDATE_SHARE = 0.6;
const STATUS_SHARE = 0.3;

/** A stream of realistic events over users `1..size`. */
export class DemoUsers {
  private readonly live = new Map<number, UserSnapshot>();
  private readonly deleted = new Set<number>();

  constructor(
    readonly size: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError('size must be a positive integer');
  }

  /** Users alive now. */
  get liveCount(): number {
    return this.live.size;
  }

  /** Users whose last event was a delete. */
  get deletedCount(): number {
    return this.deleted.size;
  }

  /**
   * The next event: a user picked at random is created (or created again after a delete) if
   * it does not exist; otherwise updated (60%), given a new status (30%) or deleted (10%).
   */
  next(): UserEventInput {
    const id = 1 + Math.floor(this.random() * this.size);
    const current = this.live.get(id);
    if (!current) {
      const user = this.newUser(id);
      this.live.set(id, user);
      this.deleted.delete(id);
      return { type: EventType.UserCreated, user };
    }
    const roll = this.random();
    if (roll < UPDATE_SHARE) {
      const [field, value] = this.change(current);
      const user = { ...current, [field]: value };
      this.live.set(id, user);
      return { type: EventType.UserUpdated, user, changes: { [field]: value } };
    }
    if (roll < UPDATE_SHARE + STATUS_SHARE) {
      const from = current.status ?? 'active';
      const to = this.pick(STATUSES.filter((s) => s !== from));
      const user = { ...current, status: to };
      this.live.set(id, user);
      return { type: EventType.UserStatusChanged, user, changes: { status: { from, to } } };
    }
    this.live.delete(id);
    this.deleted.add(id);
    return { type: EventType.UserDeleted, user: { id, username: current.username } };
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  private newUser(id: number): UserSnapshot {
    const first = this.pick(FIRST);
    const last = this.pick(LAST);
    return {
      id,
      username: `${first}.${last}${id}`,
      email: `${first}.${last}${id}@${this.pick(DOMAINS)}`,
      role: this.pick(ROLES),
      status: this.random() < 0.7 ? 'active' : 'pending',
      phone: this.phone(),
    };
  }

  private phone(): string {
    return `+1 555 01${String(Math.floor(this.random() * 100)).padStart(2, '0')}`;
  }

  private change(user: UserSnapshot): [string, unknown] {
    const roll = this.random();
    if (roll < 0.4) {
      const [local] = String(user.email ?? `user${String(user.id)}`).split('@');
      return ['email', `${local ?? 'user'}@${this.pick(DOMAINS)}`];
    }
    if (roll < 0.7) return ['phone', this.phone()];
    if (roll < 0.9) return ['role', this.pick(ROLES.filter((r) => r !== user.role))];
    return ['display_name', `${this.pick(FIRST)} ${this.pick(LAST)}`];
  }
}
