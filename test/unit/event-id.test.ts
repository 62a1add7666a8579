import { describe, expect, it } from '@jest/globals';
import { taskId } from '../../src/jobs/names.js';
import { newEventId } from '../../src/producers/event-id.js';
import { DEFAULT_STATUSES, validateEvent } from '../../src/producers/validation.js';

describe('newEventId', () => {
  const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const bytesOf = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex');
  const timeOf = (id: string) => parseInt(id.replaceAll('-', '').slice(0, 12), 16);
  const filled = (byte: number) => (size: number) => Buffer.alloc(size, byte);

  it('has the exact layout for known inputs', () => {
    expect(newEventId(0x0123456789ab, filled(0x00))).toBe('01234567-89ab-7000-8000-000000000000');
    expect(newEventId(0x0123456789ab, filled(0xff))).toBe('01234567-89ab-7fff-bfff-ffffffffffff');
  });

  it('is a UUIDv7 with version nibble 7 and variant bits 10', () => {
    for (const random of [filled(0x00), filled(0xff), filled(0x5a), undefined]) {
      const id = newEventId(Date.now(), random);
      expect(id).toMatch(UUID_V7);
      const bytes = bytesOf(id);
      expect(bytes).toHaveLength(16);
      expect((bytes[6] as number) >> 4).toBe(7);
      expect((bytes[8] as number) >> 6).toBe(0b10);
    }
  });

  it.each([0, 1, 1_000, Date.UTC(2025, 8, 19, 21, 51, 28, 123), Date.now(), 2 ** 48 - 1])(
    'puts now = %d in the first 48 bits',
    (now) => {
      expect(timeOf(newEventId(now))).toBe(now);
    },
  );

  it('floors a fractional now and clamps a negative one to 0', () => {
    expect(timeOf(newEventId(1_700_000_000_000.9))).toBe(1_700_000_000_000);
    expect(timeOf(newEventId(-5))).toBe(0);
  });

  it('asks for 16 random bytes and keeps the random bits it does not overwrite', () => {
    const random = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    let asked = 0;
    const id = newEventId(0, (size) => {
      asked = size;
      return Buffer.from(random);
    });
    expect(asked).toBe(16);
    const bytes = bytesOf(id);
    expect((bytes[6] as number) & 0x0f).toBe((random[6] as number) & 0x0f);
    expect(bytes[7]).toBe(random[7]);
    expect((bytes[8] as number) & 0x3f).toBe((random[8] as number) & 0x3f);
    expect(bytes.subarray(9)).toEqual(random.subarray(9));
  });

  it('sorts by time, whatever the random part', () => {
    const times = [1, 255, 256, 65_535, 1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000];
    // Later ids get smaller random bytes, so only the timestamp can put them in order.
    const ids = times.map((t, i) => newEventId(t, filled(0xff - i)));
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts ids made a millisecond apart with real randomness', () => {
    const base = Date.now();
    const ids = Array.from({ length: 50 }, (_v, i) => newEventId(base + i));
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it('is unique with real randomness, even in the same millisecond', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => newEventId(1_700_000_000_000)));
    expect(ids.size).toBe(1_000);
  });

  it('defaults now to the current time', () => {
    const before = Date.now();
    const id = newEventId();
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(Date.now());
  });

  it('is a valid BullMQ job id: no ":" and not all digits', () => {
    for (let i = 0; i < 200; i++) {
      const id = newEventId(Date.now() + i);
      expect(id).not.toContain(':');
      expect(id).not.toMatch(/^\d+$/);
      expect(taskId(id, 'orders')).not.toContain(':');
    }
    // Even a timestamp and random bytes of decimal digits only keep the dashes.
    expect(newEventId(0x111111111111, filled(0x11))).not.toMatch(/^\d+$/);
  });

  it('is accepted as an event id by validateEvent', () => {
    const id = newEventId();
    const result = validateEvent(
      { id, type: 'user.created', user: { id: 1 } },
      { maxSnapshotBytes: 65_536, maxTimestampAheadMs: 86_400_000, statuses: DEFAULT_STATUSES, source: 's' },
    );
    expect(result.id).toBe(id);
  });
});
