import { describe, expect, it } from '@jest/globals';
import { deadLetterId } from '../../src/jobs/dead-letter.js';
import { taskId } from '../../src/jobs/names.js';

describe('deadLetterId', () => {
  it.each([
    ['orders', 'evt_1.orders', 'evt_1.orders'],
    ['orders', 'evt_1', 'evt_1.orders'],
    ['orders', '123', '123.orders'],
    ['orders', 'evt_1.billing', 'evt_1.billing.orders'],
    ['orders', 'evt_1.xorders', 'evt_1.xorders.orders'],
    ['orders', 'orders', 'orders.orders'],
    ['orders', '.orders', '.orders'],
    ['a', 'e.a', 'e.a'],
    ['a', 'e.ba', 'e.ba.a'],
  ])('service %s, job %s -> %s', (service, jobId, id) => {
    expect(deadLetterId(service, jobId)).toBe(id);
  });

  it('is the task id for a well-formed delivery', () => {
    const id = taskId('0190f5b8-3f1e-7c2a-9b4d-1234567890ab', 'orders');
    expect(deadLetterId('orders', id)).toBe(id);
  });

  it('is idempotent', () => {
    for (const jobId of ['evt_1', 'evt_1.orders', 'evt_1.billing', '7']) {
      const once = deadLetterId('orders', jobId);
      expect(deadLetterId('orders', once)).toBe(once);
    }
  });

  it('keeps the same odd job id apart across targets', () => {
    expect(deadLetterId('orders', '7')).not.toBe(deadLetterId('billing', '7'));
  });
});
